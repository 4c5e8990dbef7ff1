import "@kern-ux/native/dist/fonts/fira-sans.css";
import "@kern-ux/native/dist/kern.min.css";
import "./app.css";
import { mount } from "svelte";
import App from "./App.svelte";
import { tauriBackend } from "./lib/backend";

const target = document.getElementById("app");
if (target) {
  mount(App, { target, props: { backend: tauriBackend } });
}
