import sys

from cnn_tb.demo.cli import main

sys.exit(main())
