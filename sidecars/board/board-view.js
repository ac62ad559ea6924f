// The board page's view helpers, apart from its state: building elements (text only ever through
// textContent, so a title cannot inject markup), labels, ages, the notice line and copying an id.
// board.js reads them from window.RiggerBoardView; index.html loads this file first.
'use strict';

(() => {
  const SHORT_ID = 8;
  const COPIED_MS = 1500;
  const noticeEl = document.getElementById('notice');

  const el = (tag, props, ...children) => {
    const node = document.createElement(tag);
    if (props)
      for (const [key, value] of Object.entries(props)) {
        if (key === 'text') node.textContent = value;
        else if (key === 'dataset') Object.assign(node.dataset, value);
        else node.setAttribute(key, value);
      }
    for (const child of children) if (child) node.append(child);
    return node;
  };

  const label = (status) => (status === 'TODO' ? 'To do' : status.charAt(0) + status.slice(1).toLowerCase().replace(/_/g, ' '));
  const today = () => new Date().toISOString().slice(0, 10);

  function age(iso) {
    const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    if (!Number.isFinite(seconds)) return '';
    if (seconds < 60) return 'just now';
    const [amount, unit] = seconds < 3600 ? [seconds / 60, 'min'] : seconds < 86400 ? [seconds / 3600, 'h'] : [seconds / 86400, 'd'];
    return `${Math.floor(amount)} ${unit} ago`;
  }

  function notify(kind, text) {
    noticeEl.dataset.kind = kind;
    noticeEl.textContent = text;
    noticeEl.hidden = false;
  }

  async function copyId(button, id) {
    try {
      await navigator.clipboard.writeText(id);
    } catch {
      // Without the clipboard API (an insecure origin): copy through a selected field.
      const field = el('textarea', { class: 'visually-hidden', 'aria-hidden': 'true' });
      field.value = id;
      document.body.append(field);
      field.select();
      const copied = document.execCommand('copy');
      field.remove();
      if (!copied) return notify('error', `Could not copy the id; it is ${id}`);
    }
    button.dataset.copied = 'true';
    button.textContent = 'Copied';
    setTimeout(() => {
      delete button.dataset.copied;
      button.textContent = id.slice(0, SHORT_ID);
    }, COPIED_MS);
  }

  window.RiggerBoardView = { el, label, today, age, notify, copyId, SHORT_ID };
})();
