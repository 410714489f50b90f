/* The section review form saved as the vérificateur goes (issue 18, item 5), loaded by
   templates/reviewer/section.html only. The page works without it: the form posts every
   verdict and the page comes back. Here the same form is posted with fetch() after each
   change (debounced), the server answers JSON, and the page updates in place: the badge of
   each exigence, its error next to it, the decision panel, « Enregistré » in a live region.
   « Tout conforme » (its confirmation dialog) still posts the form and reloads the page. */
const form = document.getElementById("section-verdicts");
const status = document.getElementById("section-save-status");
const LABELS = { conforme: "Conforme", non_conforme: "Non conforme", non_applicable: "Non applicable" };
const BADGES = { conforme: "fr-badge--success", non_conforme: "fr-badge--error", non_applicable: "fr-badge--info" };
const DELAY = 600;
let timer = null;
let running = null;
let again = false;
let messageEdited = false;

function say(text) {
  if (status.textContent !== text) { // the same words are not announced twice
    status.textContent = text;
  }
}

function showError(exigence, message) {
  const box = document.getElementById(`verdict-${exigence}-messages`);
  const fieldset = document.getElementById(`verdict-${exigence}`);
  const textarea = document.getElementById(`comment-${exigence}`);
  box.replaceChildren();
  fieldset.classList.remove("fr-fieldset--error");
  textarea.classList.remove("fr-input--error");
  textarea.parentElement.classList.remove("fr-input-group--error");
  if (!message) {
    return null;
  }
  const p = document.createElement("p");
  p.className = "fr-message fr-message--error";
  p.textContent = message.text;
  box.append(p);
  if (message.onComment) {
    textarea.classList.add("fr-input--error");
    textarea.parentElement.classList.add("fr-input-group--error");
    return textarea;
  }
  fieldset.classList.add("fr-fieldset--error");
  return fieldset.querySelector("input:checked") || fieldset.querySelector("input");
}

function update(data) {
  const errors = new Map(data.errors.map((e) => [e.exigence, e]));
  let first = null;
  form.querySelectorAll("section[data-code]").forEach((section) => {
    const code = section.dataset.code;
    const error = errors.get(code);
    const target = showError(section.dataset.exigence, error && {
      text: error.message,
      onComment: error.code === "comment_required" || error.code === "justification_required",
    });
    first = first || target;
    const badge = section.querySelector(".bo-verdict-badge");
    const verdict = data.verdicts[code];
    if (badge && verdict) {
      badge.textContent = LABELS[verdict];
      badge.className = `bo-verdict-badge fr-badge fr-badge--sm ${BADGES[verdict]}`;
    }
  });
  const pending = document.getElementById("section-pending");
  if (pending) {
    pending.hidden = data.pending.length === 0;
    pending.querySelector("span").textContent = data.pending.join(", ");
  }
  const message = document.getElementById("modifications-message");
  if (message && !messageEdited) {
    message.value = data.message;
  }
  return first;
}

async function save({ focusErrors = false } = {}) {
  clearTimeout(timer);
  if (running) {
    again = true; // a change during a save: one more save after it, never two at once
    return running;
  }
  say("Modifications en cours d'enregistrement…");
  running = (async () => {
    try {
      const response = await fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      const data = await response.json().catch(() => ({}));
      if (!response.ok) {
        say(`Non enregistré : ${data.message || "une erreur est survenue, rechargez la page."}`);
        return;
      }
      const first = update(data);
      if (data.ok) {
        say("Enregistré");
      } else {
        say(`Enregistré, sauf ${data.errors.length} verdict(s) à compléter (voir le message sous l'exigence).`);
        if (focusErrors && first) {
          first.focus();
        }
      }
    } catch (error) {
      say("Non enregistré : la connexion a échoué. Vos saisies sont conservées sur la page.");
    } finally {
      running = null;
      if (again) {
        again = false;
        save();
      }
    }
  })();
  return running;
}

function later() {
  clearTimeout(timer);
  say("Modifications en cours d'enregistrement…"); // never « Enregistré » before it is
  timer = setTimeout(save, DELAY);
}

if (form && status) {
  form.addEventListener("change", later);
  form.addEventListener("input", (event) => {
    if (event.target.tagName === "TEXTAREA") {
      later();
    }
  });
  form.addEventListener("submit", (event) => {
    if (event.submitter && event.submitter.name === "tout_conforme") {
      clearTimeout(timer); // the form itself carries what was typed
      return;
    }
    event.preventDefault();
    save({ focusErrors: true });
  });
  const message = document.getElementById("modifications-message");
  if (message) {
    message.addEventListener("input", () => { messageEdited = true; });
  }
}
