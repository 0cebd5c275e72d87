// Applies the saved theme before the page paints, so a dark-theme user never sees a light
// flash. Book, Appendix E, "Theme selection": localStorage key "theme" holds "light",
// "dark" or "system"; "system" follows prefers-color-scheme. console.js owns the toggle.
(() => {
  let choice = "system";
  try {
    choice = localStorage.getItem("theme") || "system";
  } catch (_e) {
    // Storage can be disabled; the system preference still applies.
  }
  const dark = choice === "dark" ||
    (choice !== "light" && globalThis.matchMedia("(prefers-color-scheme: dark)").matches);
  document.documentElement.setAttribute("data-theme", dark ? "dark" : "light");
})();
