// The board page: follows /events (server-sent events from the board sidecar) and draws the board.
// Each connection starts with the whole board: a "board" header, the cards in "tasks" pages, then
// "board-end"; after it one "change" per event and a "status" when the sidecar's link to the server
// goes down or comes back. The cards of a snapshot gather apart and replace the board at its end,
// so a reconnect (EventSource's own, or after the sidecar dropped a page that stopped reading)
// redraws everything once, never twice. Changes that arrive during a snapshot apply to it, in order.
// Each column draws its newest MAX_CARDS cards and counts the rest: a board of thousands stays fast.
// Task text is only ever set with textContent: a title cannot inject markup. Narrow screens show
// one column at a time, picked with tabs. When the sidecar allows changes (a CSRF token in the
// page's meta), a card can be dragged to another column or given a status from its select; the
// sidecar makes the change on the server, and the board follows it from the event like any other.
'use strict';

(() => {
  const ALWAYS_SHOWN = ['TODO', 'IN_PROGRESS', 'COMPLETED'];
  const EVERYONE = '*';
  const REOPEN_MS = 2000;
  const MAX_CARDS = 200;
  const AGE_REFRESH_MS = 30_000;
  // Renewed from each board header: a sidecar restarted under an open page has a new one.
  let csrf = document.querySelector('meta[name="rigger-board-csrf"]')?.content ?? '';
  const changesAllowed = csrf !== '' && csrf !== '{{csrf}}';
  let activeStatus = 'TODO';

  let tasks = new Map();
  // The cards of the snapshot under way (null when none is): they replace `tasks` at board-end.
  let incoming = null;
  let expected = 0;
  let statuses = [];
  let feed = [];
  let sidecars = [];
  let feedSize = 50;
  let ready = false;
  let serverConnected = false;
  let pageConnected = false;
  let sequence = 0;
  let drawPending = false;

  const columnsEl = document.getElementById('columns');
  const feedEl = document.getElementById('feed');
  const sidecarsEl = document.getElementById('sidecars');
  const filterEl = document.getElementById('assignee-filter');
  const summaryEl = document.getElementById('summary');
  const connectionEl = document.getElementById('connection');
  const tabsEl = document.getElementById('tabs');

  const { el, label, today, age, notify, copyId, SHORT_ID } = window.RiggerBoardView;

  async function changeStatus(id, status, version) {
    const task = tasks.get(id);
    const title = task ? task.title : id;
    try {
      const response = await fetch('change', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-rigger-board-csrf': csrf },
        body: JSON.stringify({ task_id: id, status, expected_version: version }),
      });
      const body = await response.json().catch(() => ({}));
      if (!response.ok) {
        notify('error', `Could not move “${title}” to ${label(status)}: ${body.error ?? `HTTP ${response.status}`}`);
        schedule(); // puts the card back where the board has it
        return;
      }
      notify('ok', `Moved “${title}” to ${label(status)}`);
    } catch (error) {
      notify('error', `Could not move “${title}”: the board sidecar is unreachable (${error})`);
      schedule();
    }
  }

  function shownStatuses() {
    const used = new Set([...tasks.values()].map((task) => task.status));
    return statuses.filter((status) => ALWAYS_SHOWN.includes(status) || used.has(status));
  }

  function matches(task) {
    const wanted = filterEl.value;
    return wanted === EVERYONE || (task.assignee ?? '') === wanted;
  }

  function card(task) {
    const details = el('dl', null, el('dt', { text: 'Assignee' }), el('dd', { text: task.assignee ?? 'unassigned' }));
    if (task.due_date) {
      const overdue = task.status !== 'COMPLETED' && task.due_date < today();
      details.append(
        el('dt', { text: 'Due' }),
        el('dd', overdue ? { class: 'overdue' } : null, el('time', { datetime: task.due_date, text: task.due_date }), overdue ? ' (overdue)' : null),
      );
    }
    const idButton = el('button', {
      type: 'button',
      class: 'task-id',
      title: `${task.id} (click to copy)`,
      'aria-label': `Copy the task id ${task.id}`,
      text: task.id.slice(0, SHORT_ID),
    });
    idButton.addEventListener('click', () => copyId(idButton, task.id));
    const updated = new Date(task.updated_at);
    const meta = el(
      'p',
      { class: 'meta' },
      idButton,
      ' ',
      el('time', { class: 'age', datetime: task.updated_at, title: `updated ${updated.toLocaleString()}`, text: `updated ${age(task.updated_at)}` }),
    );
    const article = el(
      'article',
      { class: 'card', dataset: { taskId: task.id, version: String(task.version) } },
      el('h4', { text: task.title }),
      meta,
      details,
    );
    if (changesAllowed) {
      const select = el(
        'select',
        { class: 'move', 'aria-label': `Status of ${task.title}` },
        ...statuses.map((status) => el('option', { value: status, text: label(status) })),
      );
      select.value = task.status;
      select.addEventListener('change', () => changeStatus(task.id, select.value, Number(article.dataset.version)));
      article.append(select);
      article.draggable = true;
      article.addEventListener('dragstart', (event) => {
        event.dataTransfer.setData('text/plain', task.id);
        event.dataTransfer.effectAllowed = 'move';
      });
    }
    return el('li', null, article);
  }

  function dropTarget(column, status) {
    column.addEventListener('dragover', (event) => {
      event.preventDefault();
      column.classList.add('drop');
    });
    column.addEventListener('dragleave', () => column.classList.remove('drop'));
    column.addEventListener('drop', (event) => {
      event.preventDefault();
      column.classList.remove('drop');
      const id = event.dataTransfer.getData('text/plain');
      const task = tasks.get(id);
      if (task && task.status !== status) changeStatus(id, status, task.version);
    });
  }

  function drawTabs(shownColumns, counts) {
    if (!shownColumns.includes(activeStatus)) activeStatus = shownColumns[0] ?? 'TODO';
    const have = [...tabsEl.children];
    if (have.length === shownColumns.length && have.every((tab, i) => tab.dataset.status === shownColumns[i])) {
      // Same tabs: updated in place, so a click or the keyboard focus on one is never lost to a redraw.
      for (const tab of have) {
        tab.setAttribute('aria-selected', String(tab.dataset.status === activeStatus));
        tab.querySelector('.count').textContent = String(counts.get(tab.dataset.status) ?? 0);
      }
      return;
    }
    // A rebuild keeps the keyboard on the tab it was on.
    const focused = tabsEl.contains(document.activeElement) ? document.activeElement.dataset.status : null;
    tabsEl.replaceChildren(
      ...shownColumns.map((status) => {
        const tab = el(
          'button',
          {
            type: 'button',
            role: 'tab',
            id: `tab-${status}`,
            'aria-controls': `panel-${status}`,
            'aria-selected': String(status === activeStatus),
            dataset: { status },
          },
          label(status),
          el('span', { class: 'count', text: String(counts.get(status) ?? 0) }),
        );
        tab.addEventListener('click', () => {
          activeStatus = status;
          schedule();
        });
        return tab;
      }),
    );
    if (focused) tabsEl.querySelector(`[data-status="${focused}"]`)?.focus();
  }

  function drawColumns() {
    const shown = [...tasks.values()].filter(matches).sort((a, b) => (a.updated_at < b.updated_at ? 1 : -1));
    const shownColumns = shownStatuses();
    const counts = new Map();
    const columns = shownColumns.map((status) => {
      const here = shown.filter((task) => task.status === status);
      const headingId = `column-${status}`;
      const list = here.length ? el('ul', null, ...here.slice(0, MAX_CARDS).map(card)) : el('p', { class: 'empty', text: 'No tasks' });
      const more =
        here.length > MAX_CARDS ? el('p', { class: 'more', text: `${here.length - MAX_CARDS} more not drawn; pick an assignee to narrow the board` }) : null;
      counts.set(status, here.length);
      const column = el(
        'section',
        {
          class: status === activeStatus ? 'column active' : 'column',
          id: `panel-${status}`,
          role: 'tabpanel',
          'aria-labelledby': headingId,
          dataset: { status },
        },
        el('h3', { id: headingId }, label(status), el('span', { class: 'count', 'aria-label': `${here.length} tasks`, text: String(here.length) })),
        el('div', { class: 'cards' }, list, more),
      );
      if (changesAllowed) dropTarget(column, status);
      return column;
    });
    drawTabs(shownColumns, counts);
    for (const column of columns) if (column.dataset.status === activeStatus) column.classList.add('active');
    // Each column keeps where it was scrolled to across redraws.
    const scrolled = new Map([...columnsEl.querySelectorAll('.column')].map((column) => [column.dataset.status, column.querySelector('.cards').scrollTop]));
    columnsEl.replaceChildren(...columns);
    for (const column of columns) column.querySelector('.cards').scrollTop = scrolled.get(column.dataset.status) ?? 0;
    summaryEl.textContent = ready ? `${shown.length} of ${tasks.size} tasks shown, as of event #${sequence}` : 'Loading the board…';
  }

  function drawFilter() {
    const names = [...new Set([...tasks.values()].map((task) => task.assignee ?? ''))].sort((a, b) => a.localeCompare(b));
    const current = filterEl.value;
    const wanted = [EVERYONE, ...names.filter((name) => name !== ''), ...(names.includes('') ? [''] : [])];
    // Rebuilt only when the people change, so a person using the list is not interrupted.
    const have = [...filterEl.options].map((option) => option.value);
    if (have.length === wanted.length && have.every((value, i) => value === wanted[i])) return;
    filterEl.replaceChildren(...wanted.map((value) => el('option', { value, text: value === EVERYONE ? 'Everyone' : value === '' ? 'Unassigned' : value })));
    filterEl.value = wanted.includes(current) ? current : EVERYONE;
  }

  function drawFeed() {
    feedEl.replaceChildren(
      ...feed
        .slice()
        .reverse()
        .map((entry) =>
          el(
            'li',
            { dataset: { sequence: String(entry.sequence) } },
            el('span', { class: 'seq', text: `#${entry.sequence} ` }),
            el('span', { class: 'type', text: entry.type.toLowerCase().replace(/_/g, ' ') }),
            ' ',
            el('q', { text: entry.title }),
            ` → ${label(entry.status)}${entry.assignee ? ` · ${entry.assignee}` : ''} `,
            el('time', { datetime: entry.timestamp, text: new Date(entry.timestamp).toLocaleTimeString() }),
          ),
        ),
    );
  }

  const KINDS = { subscribe: 'stream', task_event_stream: 'bidi stream', consume: 'consumer member', consumer: 'consumer' };

  function drawSidecars() {
    sidecarsEl.replaceChildren(
      ...sidecars.map((s) =>
        el(
          'li',
          { dataset: { name: s.name } },
          el('span', { class: 'name', text: s.name }),
          ' ',
          el('span', { class: 'kind', text: KINDS[s.kind] ?? s.kind }),
          ` · lag ${s.lag} · ${s.kind === 'consumer' ? (s.live ? 'members joined' : 'no member') : s.live ? 'live' : 'catching up'}`,
        ),
      ),
    );
  }

  function drawConnection() {
    const [state, text] = !pageConnected
      ? ['page-offline', 'Board sidecar unreachable; reconnecting…']
      : !serverConnected
        ? ['server-down', 'Server unreachable; the sidecar is reconnecting…']
        : !ready || incoming
          ? ['connecting', 'Loading…']
          : ['live', 'Live'];
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
    drawSidecars();
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
    sidecars = header.sidecars ?? [];
    ready = header.ready;
    serverConnected = header.connected;
    sequence = header.sequence;
    if (header.csrf) csrf = header.csrf;
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
    const on = (name, apply) =>
      source.addEventListener(name, (message) => {
        apply(JSON.parse(message.data));
        schedule();
      });
    on('board', onBoard);
    on('tasks', onTasks);
    on('board-end', onBoardEnd);
    on('change', onChange);
    on('status', (status) => (serverConnected = status.connected));
    on('feed', (message) => (feed = message.feed));
    // The sidecars list changes every few seconds; redrawing only it leaves a tab or select a person is using alone.
    source.addEventListener('sidecars', (message) => {
      sidecars = JSON.parse(message.data).sidecars;
      drawSidecars();
    });
    source.addEventListener('open', () => {
      pageConnected = true;
      schedule();
    });
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
  setInterval(() => {
    for (const time of document.querySelectorAll('time.age')) time.textContent = `updated ${age(time.getAttribute('datetime'))}`;
  }, AGE_REFRESH_MS);
  draw();
  open();
})();
