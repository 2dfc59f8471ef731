import sys

from cnn_tb.cli import main

sys.exit(main())
