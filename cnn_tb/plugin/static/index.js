// CNN Flow: entry module of the cnn_tb TensorBoard plugin (loaded in an
// iframe by TensorBoard, which calls render()). The page is built by FlowApp
// (app.js) from the toolbar, epoch player, probe strip and the flow, compare
// and filters views.

import { FlowApp } from "./app.js";

/** Entry point called by TensorBoard's plugin_entry.html. */
export async function render() {
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = new URL("./style.css", import.meta.url).href;
  document.head.append(link);
  const app = new FlowApp(document.body);
  window.cnnTbApp = app;
  await app.start();
}
