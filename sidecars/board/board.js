// The board page: follows /events (server-sent events from the board sidecar) and draws the board.
// Each connection starts with the whole board: a "board" header, the cards in "tasks" pages, then
// "board-end"; after it one "change" per event and a "status" when the sidecar's link to the server
// goes down or comes back. The cards of a snapshot gather apart and replace the board at its end,
// so a reconnect (EventSource's own, or after the sidecar dropped a page that stopped reading)
// redraws everything once, never twice. Changes that arrive during a snapshot apply to it, in order.
// Each column draws its newest MAX_CARDS cards and counts the rest: a board of thousands stays fast.
// Task text is only ever set with textContent: a title cannot inject markup.
'use strict';

(() => {
  const ALWAYS_SHOWN = ['TODO', 'IN_PROGRESS', 'COMPLETED'];
  const EVERYONE = '*';
  const REOPEN_MS = 2000;
  const MAX_CARDS = 200;

  let tasks = new Map();
  // The cards of the snapshot under way (null when none is): they replace `tasks` at board-end.
  let incoming = null;
  let expected = 0;
  let statuses = [];
  let feed = [];
  let feedSize = 50;
  let ready = false;
  let serverConnected = false;
  let pageConnected = false;
  let sequence = 0;
  let drawPending = false;

  const columnsEl = document.getElementById('columns');
  const feedEl = document.getElementById('feed');
  const filterEl = document.getElementById('assignee-filter');
  const summaryEl = document.getElementById('summary');
  const connectionEl = document.getElementById('connection');

  const el = (tag, props, ...children) => {
    const node = document.createElement(tag);
    if (props) for (const [key, value] of Object.entries(props)) {
      if (key === 'text') node.textContent = value;
      else if (key === 'dataset') Object.assign(node.dataset, value);
      else node.setAttribute(key, value);
    }
    for (const child of children) if (child) node.append(child);
    return node;
  };

  const label = (status) => (status === 'TODO' ? 'To do' : status.charAt(0) + status.slice(1).toLowerCase().replace(/_/g, ' '));
  const today = () => new Date().toISOString().slice(0, 10);

  function shownStatuses() {
    const used = new Set([...tasks.values()].map((task) => task.status));
    return statuses.filter((status) => ALWAYS_SHOWN.includes(status) || used.has(status));
  }

  function matches(task) {
    const wanted = filterEl.value;
    return wanted === EVERYONE || (task.assignee ?? '') === wanted;
  }

  function card(task) {
    const details = el('dl', null,
      el('dt', { text: 'Assignee' }), el('dd', { text: task.assignee ?? 'unassigned' }));
    if (task.due_date) {
      const overdue = task.status !== 'COMPLETED' && task.due_date < today();
      details.append(el('dt', { text: 'Due' }), el('dd', overdue ? { class: 'overdue' } : null,
        el('time', { datetime: task.due_date, text: task.due_date }), overdue ? ' (overdue)' : null));
    }
    return el('li', null, el('article', { class: 'card', dataset: { taskId: task.id } }, el('h4', { text: task.title }), details));
  }

  function drawColumns() {
    const shown = [...tasks.values()].filter(matches).sort((a, b) => (a.updated_at < b.updated_at ? 1 : -1));
    const columns = shownStatuses().map((status) => {
      const here = shown.filter((task) => task.status === status);
      const headingId = `column-${status}`;
      const list = here.length ? el('ul', null, ...here.slice(0, MAX_CARDS).map(card)) : el('p', { class: 'empty', text: 'No tasks' });
      const more = here.length > MAX_CARDS
        ? el('p', { class: 'more', text: `${here.length - MAX_CARDS} more not drawn; pick an assignee to narrow the board` }) : null;
      return el('section', { class: 'column', 'aria-labelledby': headingId, dataset: { status } },
        el('h3', { id: headingId }, label(status), el('span', { class: 'count', 'aria-label': `${here.length} tasks`, text: String(here.length) })),
        list, more);
    });
    columnsEl.replaceChildren(...columns);
    summaryEl.textContent = ready ? `${shown.length} of ${tasks.size} tasks shown, as of event #${sequence}` : 'Loading the board…';
  }

  function drawFilter() {
    const names = [...new Set([...tasks.values()].map((task) => task.assignee ?? ''))].sort((a, b) => a.localeCompare(b));
    const current = filterEl.value;
    const wanted = [EVERYONE, ...names.filter((name) => name !== ''), ...(names.includes('') ? [''] : [])];
    // Rebuilt only when the people change, so a person using the list is not interrupted.
    const have = [...filterEl.options].map((option) => option.value);
    if (have.length === wanted.length && have.every((value, i) => value === wanted[i])) return;
    filterEl.replaceChildren(...wanted.map((value) =>
      el('option', { value, text: value === EVERYONE ? 'Everyone' : value === '' ? 'Unassigned' : value })));
    filterEl.value = wanted.includes(current) ? current : EVERYONE;
  }

  function drawFeed() {
    feedEl.replaceChildren(...feed.slice().reverse().map((entry) => el('li', { dataset: { sequence: String(entry.sequence) } },
      el('span', { class: 'seq', text: `#${entry.sequence} ` }),
      el('span', { class: 'type', text: entry.type.toLowerCase().replace(/_/g, ' ') }), ' ',
      el('q', { text: entry.title }),
      ` → ${label(entry.status)}${entry.assignee ? ` · ${entry.assignee}` : ''} `,
      el('time', { datetime: entry.timestamp, text: new Date(entry.timestamp).toLocaleTimeString() }))));
  }

  function drawConnection() {
    const [state, text] = !pageConnected ? ['page-offline', 'Board sidecar unreachable; reconnecting…']
      : !serverConnected ? ['server-down', 'Server unreachable; the sidecar is reconnecting…']
      : !ready || incoming ? ['connecting', 'Loading…'] : ['live', 'Live'];
    connectionEl.dataset.state = state;
    connectionEl.textContent = text;
  }

  function draw() {
    drawPending = false;
    if (incoming) {
      // Mid-snapshot: what is drawn stays until the new board is whole.
      summaryEl.textContent = ready ? `Loading the board… ${incoming.size} of ${expected} tasks` : 'Waiting for the sidecar to load the board…';
      drawConnection();
      return;
    }
    drawFilter();
    drawColumns();
    drawFeed();
    drawConnection();
  }

  // Bursts of events become one redraw per frame.
  function schedule() {
    if (drawPending) return;
    drawPending = true;
    requestAnimationFrame(draw);
  }

  function onBoard(header) {
    incoming = new Map();
    expected = header.tasks;
    statuses = header.statuses;
    feed = header.feed;
    feedSize = header.feed_size;
    ready = header.ready;
    serverConnected = header.connected;
    sequence = header.sequence;
  }

  function onTasks(cards) {
    const into = incoming ?? tasks;
    for (const task of cards) into.set(task.id, task);
  }

  function onBoardEnd() {
    if (incoming) tasks = incoming;
    incoming = null;
  }

  function onChange(change) {
    const into = incoming ?? tasks;
    if (change.task) into.set(change.task_id, change.task);
    else into.delete(change.task_id);
    feed.push(change.entry);
    if (feed.length > feedSize) feed.splice(0, feed.length - feedSize);
    sequence = change.sequence;
  }

  function open() {
    const source = new EventSource('events');
    const on = (name, apply) => source.addEventListener(name, (message) => {
      apply(JSON.parse(message.data));
      schedule();
    });
    on('board', onBoard);
    on('tasks', onTasks);
    on('board-end', onBoardEnd);
    on('change', onChange);
    on('status', (status) => (serverConnected = status.connected));
    source.addEventListener('open', () => { pageConnected = true; schedule(); });
    source.addEventListener('error', () => {
      pageConnected = false;
      // A snapshot cut off midway is dropped; the next connection sends it whole.
      incoming = null;
      schedule();
      // EventSource retries network errors by itself; after an HTTP error it gives up, so open anew.
      if (source.readyState === EventSource.CLOSED) setTimeout(open, REOPEN_MS);
    });
  }

  filterEl.addEventListener('input', schedule);
  filterEl.addEventListener('change', schedule);
  document.querySelector('form.filters').addEventListener('submit', (event) => event.preventDefault());
  draw();
  open();
})();
