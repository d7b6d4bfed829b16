// The sidebar buttons work on a phone and on a desktop.
//
// pydata-sphinx-theme 0.17 and sphinx-book-theme bind their sidebar handlers to the
// first `.primary-toggle` / `.secondary-toggle` on the page, which is a hidden button in
// the top navbar; the buttons a reader sees (the menu and "Contents" buttons of the
// article header) get no handler and do nothing (pydata/pydata-sphinx-theme#2451).
// Here every other such button passes its click on to the first one, so the themes'
// own handlers run: the sidebar collapses on a wide screen and opens as a dialog on a
// narrow one.
document.addEventListener("DOMContentLoaded", () => {
  for (const kind of [".primary-toggle", ".secondary-toggle"]) {
    const [bound, ...others] = document.querySelectorAll(kind);
    for (const button of others) {
      button.addEventListener("click", (event) => {
        event.preventDefault();
        event.stopPropagation();
        bound.click();
      });
    }
  }
});
