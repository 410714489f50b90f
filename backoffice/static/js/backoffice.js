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

/* Required fields (issue 18, item 6): the browser's own bubbles (in the browser's language,
   gone in a second, not read by every screen reader) give way to the DSFR's messages. A
   form with required fields is checked here before it is sent — and before the
   confirmation modal of an irreversible action opens: each empty field gets « Ce champ est
   obligatoire. » under it, an error summary at the top of the form links to them and takes
   the focus, nothing typed is lost. Without JavaScript the browser's check and the
   server's stay. */
const REQUIRED = "input[required], textarea[required], select[required]";

function fieldLabel(form, field) {
  const label = form.querySelector(`label[for="${CSS.escape(field.id)}"]`);
  const text = label ? (label.firstChild?.textContent || label.textContent) : field.name;
  return text.replace(/\s*\*\s*$/, "").trim();
}

function isEmpty(field) {
  if (field.type === "checkbox" || field.type === "radio") {
    return !field.form.querySelector(`[name="${CSS.escape(field.name)}"]:checked`);
  }
  if (field.type === "file") {
    return field.files.length === 0;
  }
  return field.value.trim() === "" || (field.validity && field.validity.badInput);
}

function clearError(field) {
  const group = field.closest(".fr-input-group, .fr-upload-group, .fr-select-group");
  document.getElementById(`${field.id}-bo-erreur`)?.remove();
  field.classList.remove("fr-input--error", "fr-select--error");
  field.removeAttribute("aria-invalid");
  group?.classList.remove("fr-input-group--error", "fr-upload-group--error",
    "fr-select-group--error");
}

function showError(field) {
  const group = field.closest(".fr-input-group, .fr-upload-group, .fr-select-group");
  const kind = group?.classList.contains("fr-select-group") ? "select"
    : group?.classList.contains("fr-upload-group") ? "upload" : "input";
  group?.classList.add(`fr-${kind}-group--error`);
  field.classList.add(kind === "select" ? "fr-select--error" : "fr-input--error");
  field.setAttribute("aria-invalid", "true");
  const message = document.createElement("p");
  message.id = `${field.id}-bo-erreur`;
  message.className = "fr-message fr-message--error bo-required-error";
  message.textContent = "Ce champ est obligatoire.";
  (group || field.parentElement).append(message);
  field.setAttribute("aria-describedby", message.id);
}

function checkRequired(form) {
  const fields = [...form.querySelectorAll(REQUIRED)].filter((f) => !f.disabled && f.id);
  fields.forEach(clearError);
  form.querySelector(":scope > .bo-error-summary.bo-js-summary")?.remove();
  const empty = fields.filter(isEmpty);
  if (!empty.length) {
    return true;
  }
  empty.forEach(showError);
  const summary = document.createElement("div");
  summary.className = "fr-alert fr-alert--error fr-mb-3w bo-error-summary bo-js-summary";
  summary.setAttribute("role", "alert");
  summary.tabIndex = -1;
  const title = document.createElement("h2");
  title.className = "fr-alert__title";
  title.textContent = empty.length === 1 ? "Le formulaire contient une erreur"
    : `Le formulaire contient ${empty.length} erreurs`;
  const list = document.createElement("ul");
  empty.forEach((field) => {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = `#${field.id}`;
    link.textContent = `${fieldLabel(form, field)} : ce champ est obligatoire.`;
    link.addEventListener("click", (event) => {
      event.preventDefault();
      field.focus();
    });
    item.append(link);
    list.append(item);
  });
  summary.append(title, list);
  form.prepend(summary);
  summary.focus();
  return false;
}

// forms with `novalidate` in their HTML are checked by the server, whose messages and
// summary already are the DSFR's (templates/_macros/forms.html)
document.querySelectorAll("form:not([novalidate])").forEach((form) => {
  if (!form.querySelector(REQUIRED)) {
    return;
  }
  form.noValidate = true;
  form.dataset.boRequired = "";
  form.addEventListener("submit", (event) => {
    if (!checkRequired(form)) {
      event.preventDefault();
      form.querySelectorAll("dialog[open]").forEach((dialog) => {
        window.dsfr?.(dialog).modal.conceal();
      });
    }
  });
  form.querySelectorAll(REQUIRED).forEach((field) => {
    field.addEventListener("input", () => {
      if (!isEmpty(field)) {
        clearError(field);
      }
    });
  });
});

// the confirmation of an irreversible action opens only on a complete form: listened to on
// the document while capturing, before the DSFR's own listeners see the click
document.addEventListener("click", (event) => {
  const opener = event.target.closest?.("button.bo-js-only[aria-controls][data-fr-opened]");
  const form = opener?.form;
  if (form && "boRequired" in form.dataset && !checkRequired(form)) {
    event.preventDefault();
    event.stopImmediatePropagation();
  }
}, { capture: true });
