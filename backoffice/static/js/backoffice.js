/* Progressive enhancement of the DSFR pages, served from /static (the CSP allows no inline
   script): focus moves to what the page asks first (an error summary or an error message),
   and a link of the error summary puts the focus in its field, not only the scroll. */
const first = document.querySelector("[data-bo-focus]");
if (first) {
  first.focus();
}
document.querySelectorAll(".bo-error-summary a[href^='#']").forEach((link) => {
  link.addEventListener("click", (event) => {
    const field = document.getElementById(link.getAttribute("href").slice(1));
    if (field) {
      event.preventDefault();
      field.focus();
    }
  });
});
