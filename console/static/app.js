// imcallback console: reads the admin API of the listener that served it.
//
// Rule of this file: everything an answer carries (command names, ids,
// topic names, errors, bodies) goes into the page as text — text nodes,
// textContent or form values — never as markup: no string is ever parsed
// as HTML here (console_test.go checks the sources), and the
// Content-Security-Policy forbids inline scripts and styles besides.
'use strict';

(() => {
  const TOKEN_KEY = 'imcallback.adminToken';
  const REFUSED_KEY = 'imcallback.tokenRefused'; // why the page was loaded anew, for its token form
  const WINDOW_SECONDS = 15 * 60; // the Overview's series
  const SAMPLE_MS = 5000; // /v1/series (the service samples every 5 s)
  const LIVE_MS = 1500; // /v1/recent
  const DELIVERY_MS = 3000; // /v1/delivery
  const STATUS_MS = 5000; // /v1/status
  const DEAD_MS = 3000; // /v1/dead-letters
  const DEAD_LIMIT = 1000; // the oldest dead letters Dead letters lists (the API's default)
  const LIVE_LIMIT = 500;
  const EVENTS_PAGE = 50;
  const EVENTS_MS = 5000; // the first page of the last search, while shown
  const TOPICS_MS = 10000;
  const TOPICS_PAGE = 50;
  const MAX_SERIES = 8;
  // READ_MS bounds a read (GET) of the admin API, its body included: one
  // that never answers (a service or proxy that accepts and then hangs)
  // is given up with an error, and its poller asks again.
  const READ_MS = 20000;
  // ACT_MS bounds an action (a POST: pause, resume, replay), its answer
  // included: one the service (or a proxy) accepts and never answers is
  // given up, and its button is usable again. Longer than a read, as the
  // service answers a pause once its running handlers are done and a
  // replay once every event is republished.
  const ACT_MS = 120000;

  // ---------------------------------------------------------------- DOM

  const $ = (id) => document.getElementById(id);

  // Properties el may set: none of them takes markup or a URL.
  const PROPS = new Set(['title', 'type', 'value', 'colSpan', 'disabled', 'tabIndex', 'checked', 'placeholder', 'scope']);

  // el builds an element; children that are not nodes become text nodes.
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
      else if (PROPS.has(k)) node[k] = v;
      else throw new Error('el: property ' + k + ' is not allowed');
    }
    append(node, children);
    return node;
  }

  function append(node, children) {
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      if (c instanceof Node) node.appendChild(c);
      else appendText(node, String(c));
    }
  }

  // NOT_GRAPHIC matches a character that would not show as itself: a
  // control (tab and newline aside), a format character (U+202E reverses
  // the text after it, U+200B is invisible), a line or paragraph
  // separator, a surrogate, private-use or unassigned code point.
  const NOT_GRAPHIC = /[^\P{C}\t\n]|[\u2028\u2029]/gu;

  // appendText appends s as text, each NOT_GRAPHIC character of it as its
  // \u escape, marked (the command line's JSON writes them so): what IM's
  // users wrote (a body, a parameter, a topic's name) shows as it is,
  // rather than reversed or hidden, and in a body's JSON the escape is the
  // same character to whatever reads it.
  function appendText(node, s) {
    let at = 0;
    for (const m of s.matchAll(NOT_GRAPHIC)) {
      if (m.index > at) node.appendChild(document.createTextNode(s.slice(at, m.index)));
      let esc = '';
      for (let i = 0; i < m[0].length; i++) esc += '\\u' + m[0].charCodeAt(i).toString(16).padStart(4, '0');
      const mark = document.createElement('span');
      mark.className = 'esc';
      mark.title = 'U+' + m[0].codePointAt(0).toString(16).toUpperCase().padStart(4, '0') + ', which would not show as itself';
      mark.appendChild(document.createTextNode(esc));
      node.appendChild(mark);
      at = m.index + m[0].length;
    }
    if (at < s.length || s === '') node.appendChild(document.createTextNode(at ? s.slice(at) : s));
  }

  const SVG = 'http://www.w3.org/2000/svg';

  // svg builds an SVG element; attributes are the chart's own numbers and
  // class names, children that are not nodes become text nodes.
  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    for (const c of children.flat(Infinity)) node.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }

  function setText(id, text) {
    $(id).textContent = text == null ? '' : String(text);
  }

  function badge(text, kind) {
    return el('span', { class: 'badge' + (kind ? ' ' + kind : '') }, text);
  }

  function stateKind(state) {
    switch (state) {
      case 'ok': case 'processed': case 'running': case 'allow': case 'queued': return 'ok';
      case 'pending': case 'paused': case 'drop': return 'warn';
      case 'failing': case 'dead': case 'deny': case 'rejected': case 'error': return 'bad';
      default: return '';
    }
  }

  function outcomeKind(r) {
    if (r.status >= 400 || r.outcome === 'rejected') return 'bad';
    return stateKind(r.outcome) || 'info';
  }

  const pad = (n, w = 2) => String(n).padStart(w, '0');

  function fmtTime(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    if (isNaN(d)) return String(iso);
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
      pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  }

  function fmtClock(iso) {
    const d = new Date(iso);
    if (isNaN(d)) return String(iso || '');
    return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds()) + '.' + pad(d.getMilliseconds(), 3);
  }

  // UNITS shorten a number from 10,000 on: 12.3k, 4.5M, 2.5G, 1.2T.
  const UNITS = [['k', 1e3], ['M', 1e6], ['G', 1e9], ['T', 1e12]];

  function fmtNum(v) {
    if (v == null || !isFinite(v)) return '—';
    if (v === 0) return '0';
    const a = Math.abs(v);
    if (a >= 1e4) {
      // The first unit that leaves fewer than four digits before the point
      // once rounded (999,999 is 1.0M, not 1000.0k), or the last one.
      for (const [unit, size] of UNITS) {
        const text = (v / size).toFixed(1);
        if (Math.abs(Number(text)) < 1000 || unit === UNITS[UNITS.length - 1][0]) return text + unit;
      }
    }
    if (a >= 100) return v.toFixed(0);
    if (a >= 10) return v.toFixed(1).replace(/\.0$/, '');
    if (a >= 1) return v.toFixed(2).replace(/\.?0+$/, '');
    return v.toFixed(3).replace(/\.?0+$/, '');
  }

  function fmtSeconds(s) {
    if (s == null || !isFinite(s)) return '—';
    if (s < 0.001) return (s * 1e6).toFixed(0) + ' µs';
    if (s < 1) return fmtNum(s * 1000) + ' ms';
    return fmtNum(s) + ' s';
  }

  function plural(n, word) {
    return n + ' ' + word + (n === 1 ? '' : 's');
  }

  function fmtMs(ms) {
    return ms == null ? '' : fmtNum(ms) + ' ms';
  }

  function message(id, text, isError) {
    const node = $(id);
    node.textContent = text || '';
    node.classList.toggle('error', !!isError);
    node.classList.toggle('muted', !isError);
  }

  // ---------------------------------------------------------------- API

  class APIError extends Error {
    constructor(status, msg) {
      super(msg);
      this.status = status;
    }
  }

  function storedToken() {
    try {
      return sessionStorage.getItem(TOKEN_KEY) || '';
    } catch {
      return '';
    }
  }

  // parseExact is JSON.parse that keeps every number as written where the
  // browser can (JSON.rawJSON): a callback's 64-bit MsgSeq, or 1.50, shows
  // as received, not as the nearest double (12345678901234567891 would show
  // as 12345678901234567000) once JSON.stringify prints it again.
  function parseExact(text) {
    if (typeof JSON.rawJSON !== 'function') return JSON.parse(text);
    return JSON.parse(text, (key, value, context) =>
      (typeof value === 'number' && context && typeof context.source === 'string' && String(value) !== context.source ?
        JSON.rawJSON(context.source) : value));
  }

  // api calls the admin API: JSON in and out, the token
  // as a bearer header, never a cookie. 401 asks for the token. With
  // exact, the answer's numbers are kept as written (parseExact), for
  // showing as JSON only. onAnswer, if given, is called with a 2xx
  // answer's Response (its headers). A read (GET) not answered in full
  // within READ_MS, an action (POST) within ACT_MS, is given up (APIError
  // with status 0, and unanswered set for an action: the service may have
  // done what it asked, so it is no failure).
  async function api(path, opts = {}) {
    const { method = 'GET', body, exact = false, onAnswer } = opts;
    const used = storedToken();
    const headers = { Accept: 'application/json' };
    if (used) headers.Authorization = 'Bearer ' + used;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const read = method === 'GET';
    const signal = AbortSignal.timeout(read ? READ_MS : ACT_MS);
    const noAnswer = () => {
      if (!signal.aborted) return new APIError(0, 'the admin API does not answer');
      if (read) return new APIError(0, 'no answer within ' + READ_MS / 1000 + ' s');
      const e = new APIError(0, 'no answer within ' + ACT_MS / 1000 + ' s: the service may have done it all the same; ' +
        'check what the page shows before trying again');
      e.unanswered = true;
      return e;
    };
    let res;
    try {
      res = await fetch(path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
        credentials: 'omit', cache: 'no-store', redirect: 'error', signal,
      });
    } catch (e) {
      connection(false);
      throw noAnswer();
    }
    connection(true);
    if (res.status === 401) {
      tokenRefused(used);
      throw new APIError(401, 'the admin token is required');
    }
    if (used) readWithToken = true;
    let text;
    try {
      text = await res.text();
    } catch (e) {
      // The body stopped coming (READ_MS passed, or the connection broke).
      connection(false);
      throw noAnswer();
    }
    let data = null;
    try {
      data = text ? (exact ? parseExact(text) : JSON.parse(text)) : null;
    } catch {
      data = null;
    }
    if (!res.ok) {
      const msg = data && typeof data.error === 'string' ? data.error : res.status + ' ' + res.statusText;
      throw new APIError(res.status, msg);
    }
    // Every answer of the admin API is a JSON object: anything else (a
    // proxy's HTML page, an empty body) is not its answer, and is an
    // error, not data for the page.
    if (!data || typeof data !== 'object' || Array.isArray(data)) {
      throw new APIError(res.status, 'the answer is not the admin API\'s JSON (' + res.status + ', ' +
        (res.headers.get('Content-Type') || 'no Content-Type') + '): is a proxy answering for it?');
    }
    if (onAnswer) onAnswer(res);
    return data;
  }

  function connection(up) {
    const b = $('banner');
    if (up) {
      b.hidden = true;
    } else {
      b.textContent = 'The admin API does not answer; retrying.';
      b.hidden = false;
    }
  }

  function errorText(e) {
    return e instanceof APIError ? e.message : String(e && e.message || e);
  }

  // ---------------------------------------------------------------- token

  // readWithToken is set once the service answered a request that carried
  // a token: the page may show what it read.
  let readWithToken = false;

  // tokenRefused shows the token form after a 401: the token sent (if it
  // is still the one kept) was wrong, or none was kept. A token refused
  // after it read something (changed, and the service restarted) drops
  // what it read, as Forget token does: the page is loaded anew, and says
  // why it asks.
  function tokenRefused(used) {
    const current = storedToken();
    if (used && used === current) {
      sessionStorage.removeItem(TOKEN_KEY);
      const why = 'The admin API refused that token.';
      if (readWithToken) {
        try {
          sessionStorage.setItem(REFUSED_KEY, why);
          location.reload();
        } catch {
          // No session storage: the form says why on this page.
        }
      }
      showTokenForm(why);
    } else if (!current) {
      showTokenForm('');
    }
    updateTokenButton();
  }

  function showTokenForm(msg) {
    if (msg) setText('token-error', msg);
    const overlay = $('token-overlay');
    if (!overlay.hidden) return;
    overlay.hidden = false;
    $('token-input').value = '';
    $('token-input').focus();
  }

  function updateTokenButton() {
    $('token-forget').hidden = !storedToken();
  }

  // tokenProblem says why the console cannot send token v, '' when it
  // can. A header carries Latin-1 only (fetch throws on anything else), and
  // the service compares the token's UTF-8 bytes, which a browser sends
  // only for ASCII: a token the console can send holds printable ASCII
  // only (spaces inside included; the form trims the ends, as the service
  // trims its header). What it refuses is mostly a character pasted with
  // the token: an invisible one (a zero-width space) or a typographic quote.
  function tokenProblem(v) {
    let at = 0;
    for (const ch of v) {
      at++;
      const cp = ch.codePointAt(0);
      if (cp >= 0x20 && cp <= 0x7e) continue;
      return 'The token holds U+' + cp.toString(16).toUpperCase().padStart(4, '0') + ' at character ' + at +
        ', which the console cannot send: it sends a token of printable ASCII only (letters, digits, punctuation, spaces). ' +
        'Was an invisible character pasted with it?';
    }
    return '';
  }

  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const v = $('token-input').value.trim();
    if (!v) {
      setText('token-error', 'Enter the admin token.');
      return;
    }
    const problem = tokenProblem(v);
    if (problem) {
      $('token-input').value = ''; // a password field: what is wrong cannot be seen in it
      setText('token-error', problem);
      return;
    }
    try {
      sessionStorage.setItem(TOKEN_KEY, v);
    } catch {
      setText('token-error', 'This browser does not keep session storage; the console cannot keep the token.');
      return;
    }
    $('token-input').value = '';
    setText('token-error', '');
    $('token-overlay').hidden = true;
    updateTokenButton();
    topicsProbe.run();
    // The page shown is read again (the configuration, read once when
    // opened, too), and every poller at once.
    showTab(current);
  });

  // Forget token drops the token and what it read (bodies, dead letters,
  // the configuration): the page is loaded anew, empty, and asks for a
  // token before it reads anything again.
  $('token-forget').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    location.reload();
  });

  // ---------------------------------------------------------------- polling

  const pollers = [];

  // poll runs fn now and every ms after it finished, while active() holds
  // and the page is shown: a console left open in a background tab asks
  // the service nothing, and catches up at once when shown again. A run
  // asked for while one is under way (after a pause or a replay) follows
  // it at once: the run under way may have read the state from before.
  function poll(ms, fn, active = () => true) {
    const p = { running: false, again: false, timer: 0 };
    p.run = async () => {
      clearTimeout(p.timer);
      if (p.running) {
        p.again = true;
        return;
      }
      p.running = true;
      try {
        if (active() && !document.hidden) await fn();
      } catch (e) {
        if (!(e instanceof APIError)) console.error(e);
      } finally {
        p.running = false;
        p.timer = setTimeout(p.run, p.again ? 0 : ms);
        p.again = false;
      }
    };
    pollers.push(p);
    return p;
  }

  function refreshNow() {
    for (const p of pollers) if (!p.running) p.run();
  }

  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) refreshNow();
  });

  // ---------------------------------------------------------------- tabs

  const TABS = ['overview', 'live', 'events', 'dead', 'topics', 'config'];
  let current = 'overview';
  const opened = new Set();

  function showTab(name) {
    if (!TABS.includes(name) || $('tab-' + name).hidden) name = 'overview';
    current = name;
    for (const t of TABS) {
      $('page-' + t).hidden = t !== name;
      $('tab-' + t).classList.toggle('active', t === name);
      $('tab-' + t).setAttribute('aria-selected', String(t === name));
    }
    if (!opened.has(name)) {
      opened.add(name);
      if (name === 'events') searchEvents('new');
      if (name === 'topics') searchTopics('new');
    }
    // Read each time it is shown: a restart may have changed it.
    if (name === 'config') loadConfig();
    if (name === 'overview') renderOverview();
    refreshNow();
  }

  for (const t of TABS) {
    $('tab-' + t).addEventListener('click', () => {
      if (location.hash === '#' + t) showTab(t);
      else location.hash = t;
    });
  }
  window.addEventListener('hashchange', () => showTab(location.hash.slice(1)));

  // ---------------------------------------------------------------- configuration

  // loadConfig shows GET /v1/config: the configuration, secrets redacted,
  // and the notes of `config check`. It does not change while the service
  // runs, but a restart may change it: it is read each time it is shown,
  // the answer to the last read only.
  let configAsked = 0;
  async function loadConfig() {
    const asked = ++configAsked;
    try {
      const c = await api('v1/config');
      if (asked !== configAsked) return;
      $('config-yaml').textContent = typeof c.yaml === 'string' ? c.yaml : '';
      const notes = Array.isArray(c.notes) ? c.notes : [];
      $('config-notes').replaceChildren(...notes.map((n) => el('li', {}, 'note: ' + n)));
    } catch (e) {
      if (asked !== configAsked) return;
      $('config-yaml').textContent = 'Could not read the configuration: ' + errorText(e);
      $('config-notes').replaceChildren(); // the last read's, not the service's now
    }
  }

  // ---------------------------------------------------------------- delivery

  let deliveryMode = ''; // durable, inline or '' (not known yet)
  let deliveryCounts = null; // {pending, dead, commands, all, own} from /v1/delivery
  let deliveryError = ''; // why the last read of /v1/delivery failed, '' when it answered
  // The commands whose pause or resume is under way: their buttons stay
  // disabled when a refresh draws the table again meanwhile.
  const pausingCommands = new Set();

  async function refreshDelivery() {
    try {
      const d = await api('v1/delivery');
      setMode('durable');
      deliveryError = '';
      const commands = Array.isArray(d.commands) ? d.commands : [];
      deliveryCounts = {
        pending: commands.reduce((n, c) => n + (c.pending || 0), 0),
        // the dead letters of stream messages without a command (no events)
        // are no command's line, but the dead-letter list holds them too
        dead: commands.reduce((n, c) => n + (c.dead_letters || 0), 0) + (d.dead_letters_without_command || 0),
        commands,
        all: d.state === 'paused', // all delivery is paused
        own: new Set(Array.isArray(d.paused_commands) ? d.paused_commands : []), // paused one by one
      };
      const st = $('delivery-state');
      st.textContent = d.state;
      st.className = 'badge ' + stateKind(d.state);
      st.title = ''; // not the error of a failed read before
      $('delivery-pause').hidden = d.state !== 'running';
      $('delivery-resume').hidden = d.state !== 'paused';
      const dc = $('dead-count');
      dc.textContent = String(deliveryCounts.dead);
      dc.hidden = deliveryCounts.dead === 0;
    } catch (e) {
      if (e.status === 409) {
        setMode('inline');
      } else if (e.status !== 401) {
        const st = $('delivery-state');
        st.textContent = 'unknown';
        st.className = 'badge';
        st.title = errorText(e);
        // The counts of the last answer are not shown as current.
        deliveryCounts = null;
        deliveryError = 'GET /v1/delivery: ' + errorText(e);
        $('dead-count').hidden = true;
      }
    }
    if (current === 'overview') renderQueues();
  }

  function setMode(mode) {
    if (mode === deliveryMode) return;
    deliveryMode = mode;
    const inline = mode === 'inline';
    if (inline) {
      deliveryCounts = null;
      const st = $('delivery-state');
      st.textContent = 'inline';
      st.className = 'badge info';
      st.title = 'After-handlers run inline: no event log, nothing to pause.';
      $('delivery-pause').hidden = true;
      $('delivery-resume').hidden = true;
      $('dead-count').hidden = true;
    }
    $('events-off').hidden = !inline;
    $('events-on').hidden = inline;
    $('dead-off').hidden = !inline;
    $('dead-on').hidden = inline;
    setText('ov-mode', mode);
  }

  // statusUnread tells the user that a pause or resume (what) happened
  // though the delivery status could not be read just then: the answer is
  // a 200 with status_error, and commands left empty.
  function statusUnread(what, answer) {
    const why = answer && answer.status_error;
    if (typeof why === 'string' && why) alert(what + ': ' + why);
  }

  // pauseConfirmed asks before a pause, as Replay all does: a pause of
  // what ("all delivery" or a command) stops handlers (effect) until
  // someone resumes.
  function pauseConfirmed(what, effect) {
    return confirm('Pause ' + what + '? ' + effect + ' until it is resumed; the callbacks are still stored and wait.');
  }

  async function pauseResume(action) {
    if (action === 'pause' && !pauseConfirmed('all delivery', 'No after-callback handler runs on this replica')) return;
    const b = $('delivery-' + action);
    b.disabled = true;
    try {
      statusUnread(action + ' delivery', await api('v1/delivery/' + action, { method: 'POST' }));
    } catch (e) {
      if (e.status !== 401) alert((e.unanswered ? action + ' delivery: ' : 'Could not ' + action + ' delivery: ') + errorText(e));
    } finally {
      b.disabled = false;
      deliveryPoller.run();
    }
  }
  $('delivery-pause').addEventListener('click', () => pauseResume('pause'));
  $('delivery-resume').addEventListener('click', () => pauseResume('resume'));

  const deliveryPoller = poll(DELIVERY_MS, refreshDelivery);

  // ---------------------------------------------------------------- overview

  // samples of the service's counters (GET /v1/series), oldest first: the
  // service samples them every few seconds and keeps the last 15 minutes,
  // so the charts cover that window as soon as the page opens.
  let samples = [];
  let firstSample = 0;
  let statusData = null;
  let statusError = '';
  let seriesError = ''; // why the last read of /v1/series failed, '' when it answered
  const OV_NOTE = $('ov-note').textContent;

  function parseValue(v) {
    if (v === '+Inf') return Infinity;
    if (v === '-Inf') return -Infinity;
    return Number(v);
  }

  function toMap(obj) {
    const m = new Map();
    if (obj && typeof obj === 'object') {
      for (const [k, v] of Object.entries(obj)) if (typeof v === 'number' && isFinite(v)) m.set(k, v);
    }
    return m;
  }

  // toSample reads one sample of /v1/series: by command (handled and
  // unknown commands; rejections carry none), by outcome (with "unknown"
  // and "rejected"), rejections by reason and the latency buckets.
  function toSample(s) {
    return {
      t: Date.parse(s.time) / 1000,
      cmd: toMap(s.commands), out: toMap(s.outcomes), rej: toMap(s.rejections), buckets: toMap(s.duration_buckets),
    };
  }

  async function sampleSeries() {
    let data;
    try {
      data = await api('v1/series');
    } catch (e) {
      // The charts stay as last read, and say that they are no longer current.
      if (e.status !== 401) {
        seriesError = 'GET /v1/series: ' + errorText(e) + '; the charts show the samples read before.';
        if (current === 'overview') renderOverview();
      }
      throw e;
    }
    seriesError = '';
    samples = (Array.isArray(data.samples) ? data.samples : []).map(toSample).filter((s) => isFinite(s.t));
    firstSample = samples.length ? samples[0].t : 0;
    if (current === 'overview') renderOverview();
  }

  // increase is a counter's growth from a to b (a reset counts from 0).
  function increase(a, b) {
    if (b === undefined || !isFinite(b)) return 0;
    if (a === undefined || !isFinite(a)) a = 0;
    return b >= a ? b - a : b;
  }

  // rateSeries is one series per key (the busiest MAX_SERIES, the rest as
  // "other") of the per-second rate between consecutive samples.
  function rateSeries(pick) {
    const totals = new Map();
    for (let i = 1; i < samples.length; i++) {
      const a = pick(samples[i - 1]);
      const b = pick(samples[i]);
      for (const k of b.keys()) totals.set(k, (totals.get(k) || 0) + increase(a.get(k), b.get(k)));
    }
    const keys = [...totals.entries()].filter(([, n]) => n > 0).sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1));
    const shown = keys.slice(0, keys.length > MAX_SERIES ? MAX_SERIES - 1 : MAX_SERIES).map(([k]) => k);
    const rest = keys.length > shown.length ? keys.slice(shown.length).map(([k]) => k) : [];
    const series = shown.map((k) => ({ name: k, keys: [k], total: totals.get(k), points: [] }));
    if (rest.length) {
      series.push({ name: 'other (' + rest.length + ')', keys: rest, total: rest.reduce((n, k) => n + totals.get(k), 0), points: [] });
    }
    for (let i = 1; i < samples.length; i++) {
      const a = pick(samples[i - 1]);
      const b = pick(samples[i]);
      const dt = samples[i].t - samples[i - 1].t;
      if (dt <= 0) continue;
      for (const s of series) {
        let n = 0;
        for (const k of s.keys) n += increase(a.get(k), b.get(k));
        s.points.push([samples[i].t, n / dt]);
      }
    }
    return series;
  }

  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const f of [1, 2, 2.5, 5, 10]) if (v <= f * p) return f * p;
    return 10 * p;
  }

  // ticks are the x-axis labels of a span in seconds: about four, at a round step.
  function ticks(span) {
    const steps = [10, 15, 30, 60, 120, 300, 600];
    const step = steps.find((s) => span / s <= 4) || 600;
    const out = [];
    for (let a = 0; a <= span + 0.001; a += step) out.push(a);
    return out;
  }

  function ago(seconds) {
    if (seconds === 0) return 'now';
    return seconds < 60 ? '−' + seconds + ' s' : '−' + seconds / 60 + ' min';
  }

  // lineChart draws series of [time, value] points as an inline SVG: the
  // last 15 minutes, or the time since the first sample when shorter. Its
  // "now" is the last sample's time, the service's clock: the browser's may
  // be minutes off, which would draw the lines shifted or not at all.
  function lineChart(series, emptyText, name) {
    const W = 640;
    const H = 200;
    const L = 46;
    const R = 12;
    const T = 10;
    const B = 22;
    const now = samples.length ? samples[samples.length - 1].t : Date.now() / 1000;
    const span = Math.min(WINDOW_SECONDS, Math.max(60, firstSample ? now - firstSample : 60));
    const t0 = now - span;
    let max = 0;
    for (const s of series) for (const [, v] of s.points) max = Math.max(max, v);
    const ymax = niceMax(max);
    const x = (t) => L + Math.max(0, Math.min(1, (t - t0) / span)) * (W - L - R);
    const y = (v) => T + (1 - v / ymax) * (H - T - B);
    const root = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, class: 'chart', role: 'img', 'aria-label': name });
    for (const f of [0, 0.25, 0.5, 0.75, 1]) {
      const v = ymax * f;
      root.appendChild(svg('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid' }));
      if (f === 0 || f === 0.5 || f === 1) {
        root.appendChild(svg('text', { x: L - 6, y: y(v) + 4, class: 'axis', 'text-anchor': 'end' }, fmtNum(v) + '/s'));
      }
    }
    for (const a of ticks(span)) {
      const tx = x(now - a);
      const anchor = a === 0 ? 'end' : tx - L < 20 ? 'start' : 'middle';
      root.appendChild(svg('text', { x: tx, y: H - 5, class: 'axis', 'text-anchor': anchor }, ago(a)));
    }
    series.forEach((s, i) => {
      const pts = s.points.filter(([t]) => t >= t0);
      if (!pts.length) return;
      const cls = 's' + (i % 10);
      root.appendChild(svg('polyline', {
        points: pts.map(([t, v]) => x(t).toFixed(1) + ',' + y(v).toFixed(1)).join(' '),
        class: 'line ' + cls,
      }, svg('title', {}, s.name)));
      const [lt, lv] = pts[pts.length - 1];
      root.appendChild(svg('circle', { cx: x(lt).toFixed(1), cy: y(lv).toFixed(1), r: 2.5, class: 'dot ' + cls }));
    });
    if (!series.length) {
      root.appendChild(svg('text', { x: (L + W - R) / 2, y: (T + H - B) / 2, class: 'waiting', 'text-anchor': 'middle' }, emptyText));
    }
    const legend = el('ul', { class: 'legend' }, series.map((s, i) => {
      const last = s.points.length ? s.points[s.points.length - 1][1] : 0;
      return el('li', { title: s.name + ': ' + fmtNum(s.total) + ' in the window' },
        el('span', { class: 'sw s' + (i % 10) }), el('span', { class: 'name' }, s.name), el('span', { class: 'rate' }, fmtNum(last) + '/s'));
    }));
    return [root, legend];
  }

  // quantile estimates a quantile from cumulative [le, count] buckets, as histogram_quantile does.
  function quantile(q, buckets) {
    if (!buckets.length) return null;
    const total = buckets[buckets.length - 1][1];
    if (!(total > 0)) return null;
    const rank = q * total;
    let prevLe = 0;
    let prevN = 0;
    for (const [le, n] of buckets) {
      if (n >= rank) {
        if (le === Infinity) return prevLe;
        if (n === prevN) return le;
        return prevLe + (le - prevLe) * ((rank - prevN) / (n - prevN));
      }
      prevLe = le;
      prevN = n;
    }
    return prevLe;
  }

  function renderOverview() {
    const waiting = samples.length < 2 ? 'Collecting samples…' : 'No callbacks in the window.';
    const byCommand = rateSeries((s) => s.cmd);
    const byOutcome = rateSeries((s) => s.out);
    $('ov-chart-command').replaceChildren(...lineChart(byCommand, waiting, 'Callbacks per second by command'));
    $('ov-chart-outcome').replaceChildren(...lineChart(byOutcome, waiting, 'Callbacks per second by outcome'));

    const now = byOutcome.reduce((n, s) => n + (s.points.length ? s.points[s.points.length - 1][1] : 0), 0);
    setText('ov-rate', samples.length < 2 || seriesError ? '—' : fmtNum(now));
    message('ov-note', seriesError || OV_NOTE, !!seriesError);
    setText('ov-total', samples.length < 2 ? '—' : fmtNum(byOutcome.reduce((n, s) => n + s.total, 0)));
    const span = samples.length ? samples[samples.length - 1].t - firstSample : 0;
    setText('ov-window-label', span < WINDOW_SECONDS ?
      'Callbacks, last ' + Math.max(1, Math.round(span / 60)) + ' min' : 'Callbacks, last 15 min');

    // latency over the window, from the histogram's buckets
    if (samples.length >= 2) {
      const a = samples[0].buckets;
      const b = samples[samples.length - 1].buckets;
      const buckets = [...b.entries()].map(([le, n]) => [parseValue(le), increase(a.get(le), n)]).sort((x, y) => x[0] - y[0]);
      const p50 = quantile(0.5, buckets);
      const p99 = quantile(0.99, buckets);
      setText('ov-latency', p50 == null ? '—' : fmtSeconds(p50) + ' / ' + fmtSeconds(p99));
    } else {
      setText('ov-latency', '—');
    }

    renderRejections();
    renderDeps();
    renderQueues();
  }

  function renderRejections() {
    const box = $('ov-rejections');
    if (!samples.length) {
      box.replaceChildren(el('p', { class: 'muted' }, 'Waiting for /v1/series…'));
      return;
    }
    const first = samples[0].rej;
    const last = samples[samples.length - 1].rej;
    const rows = [...last.entries()].filter(([, n]) => n > 0)
      .map(([reason, n]) => ({ reason, total: n, recent: samples.length > 1 ? increase(first.get(reason), n) : 0 }))
      .sort((x, y) => y.recent - x.recent || y.total - x.total);
    if (!rows.length) {
      box.replaceChildren(el('p', { class: 'muted' }, 'No rejections since the service started.'));
      return;
    }
    const max = Math.max(...rows.map((r) => r.total));
    const grid = el('div', { class: 'bars' });
    for (const r of rows) {
      const fill = el('div', { class: 'bar-fill' });
      fill.style.width = (100 * r.total / max).toFixed(1) + '%'; // CSSOM, which the policy allows
      grid.append(
        el('span', { class: 'bar-label', title: r.reason }, r.reason),
        el('div', { class: 'bar-track' }, fill),
        el('span', { class: 'num' }, fmtNum(r.total), el('span', { class: 'muted' }, ' (+' + fmtNum(r.recent) + ' in the window)')),
      );
    }
    box.replaceChildren(grid, el('p', { class: 'muted small-text' }, 'Totals since the service started.'));
  }

  function renderDeps() {
    const box = $('ov-deps');
    if (!statusData) {
      box.replaceChildren(el('p', { class: statusError ? 'error' : 'muted' }, statusError || 'Waiting for /v1/status…'));
      return;
    }
    const deps = Array.isArray(statusData.dependencies) ? statusData.dependencies : [];
    if (!deps.length) {
      box.replaceChildren(el('p', { class: 'muted' }, 'No dependency checks are registered.'));
      return;
    }
    box.replaceChildren(el('table', { class: 'list plain' },
      el('thead', {}, el('tr', {}, el('th', {}, 'Dependency'), el('th', {}, 'State'), el('th', {}, 'Readiness'), el('th', {}, 'Error'))),
      el('tbody', {}, deps.map((d) => el('tr', {},
        el('td', {}, d.name),
        el('td', {}, badge(d.state, stateKind(d.state))),
        el('td', {}, d.affects_readiness ? 'decides /readyz' : 'not readiness'),
        el('td', { class: 'mono' }, d.error || ''))))));
  }

  function renderQueues() {
    const box = $('ov-queues');
    if (deliveryMode === 'inline') {
      setText('ov-pending', '—');
      setText('ov-dead', '—');
      box.replaceChildren(el('p', { class: 'muted' }, 'Durable delivery is off: after-handlers run inline, nothing is queued.'));
      return;
    }
    const pending = deliveryCounts ? deliveryCounts.pending : null;
    const dead = deliveryCounts ? deliveryCounts.dead : null;
    setText('ov-pending', pending == null ? '—' : fmtNum(pending));
    setText('ov-dead', dead == null ? '—' : fmtNum(dead));
    if (!deliveryCounts) {
      box.replaceChildren(el('p', { class: deliveryError ? 'error' : 'muted' }, deliveryError || 'Waiting for /v1/delivery…'));
      return;
    }
    const rows = deliveryCounts.commands;
    if (!rows.length) {
      box.replaceChildren(el('p', { class: 'muted' }, 'No after-commands: nothing is queued.'));
      return;
    }
    box.replaceChildren(el('table', { class: 'list plain' },
      el('thead', {}, el('tr', {}, el('th', {}, 'Command'), el('th', {}, 'State'),
        el('th', { class: 'num' }, 'Pending'), el('th', { class: 'num' }, 'Dead letters'), el('th', {}, ''))),
      el('tbody', {}, rows.map((c) => {
        // The button acts on the command's own pause: while all delivery is
        // paused, resuming one command would change nothing, so the state
        // says why it is paused and the header's Resume is the way out.
        const own = deliveryCounts.own.has(c.command);
        const state = c.state === 'paused' && !own && deliveryCounts.all ? 'paused (all delivery)' : c.state;
        // A command listed for its events alone (its handler left out of
        // this version, its dead letters kept) has nothing to pause: the
        // service refuses a pause of it.
        const action = c.after_command || own
          ? el('td', {}, el('button', {
            class: 'small', type: 'button', title: (own ? 'Resume ' : 'Pause ') + c.command, disabled: pausingCommands.has(c.command),
            onclick: (e) => pauseResumeCommand(e.currentTarget, own ? 'resume' : 'pause', c.command),
          }, own ? 'Resume' : 'Pause'))
          : el('td', { class: 'muted', title: c.command + ' is not an after-command of this service: no handler of it runs here, so there is nothing to pause.' },
            'not handled');
        return el('tr', {},
          el('td', {}, c.command),
          el('td', {}, badge(state, stateKind(c.state))),
          el('td', { class: 'num' }, fmtNum(c.pending)),
          el('td', { class: 'num' }, fmtNum(c.dead_letters)),
          action);
      }))));
  }

  // refreshForward shows the destinations of gateway mode (GET /v1/forward,
  // 404 when nothing is forwarded) with their success rate and dead letters.
  // What could not be read is not shown as current: a failed read of the
  // destinations leaves the panel with the error only, one of the dead
  // letters (the stream down) shows their counts as not known, and says why.
  async function refreshForward() {
    let data;
    try {
      data = await api('v1/forward');
    } catch (e) {
      if (e.status === 404) $('ov-forward-panel').hidden = true;
      else if (e.status !== 401 && !$('ov-forward-panel').hidden) {
        $('ov-forward').replaceChildren(el('p', { class: 'error' }, 'GET /v1/forward: ' + errorText(e)));
      }
      return;
    }
    const dests = Array.isArray(data.destinations) ? data.destinations : [];
    let deadBy = new Map(); // null: not known
    let deadError = '';
    // Read unless delivery is known to be inline (no dead letters): also
    // while the mode is not known yet, as /v1/delivery and /v1/status may
    // answer after /v1/forward.
    if (deliveryMode !== 'inline') {
      // Only the counts by destination: by_destination counts every dead
      // letter, whatever the limit, and one letter is the least there is.
      try {
        const d = await api('v1/dead-letters?limit=1');
        setMode('durable');
        for (const [name, n] of Object.entries((d && d.by_destination) || {})) deadBy.set(name, n);
      } catch (e) {
        if (e.status === 401) return;
        if (e.status === 409) {
          setMode('inline');
        } else {
          deadBy = null;
          deadError = 'GET /v1/dead-letters: ' + errorText(e) + '; the dead letters by destination are not known.';
        }
      }
    }
    $('ov-forward-panel').hidden = dests.length === 0;
    const failed = (r) => Object.entries(r || {}).reduce((n, [k, v]) => (k === 'ok' ? n : n + v), 0);
    $('ov-forward').replaceChildren(...(deadError ? [el('p', { class: 'error' }, deadError)] : []), el('table', { class: 'list plain' },
      el('thead', {}, el('tr', {}, el('th', {}, 'Destination'), el('th', {}, 'URL'), el('th', {}, 'Match'),
        el('th', { class: 'num' }, 'Success'), el('th', { class: 'num' }, 'OK'), el('th', { class: 'num' }, 'Failed'),
        el('th', { class: 'num' }, 'Dead letters'))),
      el('tbody', {}, dests.map((d) => el('tr', {},
        el('td', {}, d.name),
        el('td', { class: 'mono' }, d.url),
        el('td', { class: 'mono' }, (d.match || []).join(', ') + (d.apps && d.apps.length ? ' (apps ' + d.apps.join(', ') + ')' : '')),
        el('td', { class: 'num' }, d.success_rate == null ? '—' : (100 * d.success_rate).toFixed(1) + ' %'),
        el('td', { class: 'num' }, fmtNum((d.requests || {}).ok || 0)),
        el('td', { class: 'num' }, fmtNum(failed(d.requests))),
        el('td', { class: 'num' }, deadBy ? fmtNum(deadBy.get(d.name) || 0) : '—'))))));
  }
  poll(STATUS_MS, refreshForward);

  // pauseResumeCommand pauses or resumes one command's events.
  async function pauseResumeCommand(button, action, command) {
    if (pausingCommands.has(command)) return;
    if (action === 'pause' && !pauseConfirmed(command, 'Its handlers do not run on this replica (and past 10,000 held events no command\'s do)')) return;
    pausingCommands.add(command);
    button.disabled = true;
    try {
      statusUnread(action + ' ' + command, await api('v1/delivery/' + action, { method: 'POST', body: { command } }));
    } catch (e) {
      if (e.status !== 401) alert((e.unanswered ? action + ' ' + command + ': ' : 'Could not ' + action + ' ' + command + ': ') + errorText(e));
    } finally {
      pausingCommands.delete(command);
      deliveryPoller.run();
    }
  }

  async function refreshStatus() {
    try {
      statusData = await api('v1/status');
      statusError = '';
      if (statusData.delivery === 'inline' || statusData.delivery === 'durable') setMode(statusData.delivery);
    } catch (e) {
      if (e.status === 401) return;
      // The dependencies of the last answer are not shown as current: the
      // panel says why there are none (and the status is asked for again,
      // whatever the page shown, until it answers).
      statusData = null;
      statusError = 'GET /v1/status: ' + errorText(e);
    }
    if (current === 'overview') renderDeps();
  }

  poll(SAMPLE_MS, sampleSeries);
  poll(STATUS_MS, refreshStatus, () => current === 'overview' || !statusData);

  // ---------------------------------------------------------------- live

  let liveRows = [];

  const contains = (value, needle) => !needle || String(value || '').toLowerCase().includes(needle);

  async function refreshLive() {
    if ($('live-freeze').checked) return;
    try {
      const d = await api('v1/recent?limit=' + LIVE_LIMIT);
      // Frozen while it was asked for: the list stays as it was when frozen.
      if ($('live-freeze').checked) return;
      liveRows = Array.isArray(d.recent) ? d.recent : [];
      renderLive();
    } catch (e) {
      if (e.status !== 401) setText('live-count', 'GET /v1/recent: ' + errorText(e));
    }
  }

  function renderLive() {
    const fc = $('live-command').value.trim().toLowerCase();
    const fa = $('live-app').value.trim().toLowerCase();
    const fo = $('live-outcome').value.trim().toLowerCase();
    const rows = liveRows.filter((r) => contains(r.command, fc) && contains(r.app_id, fa) && contains(r.outcome, fo));
    $('live-rows').replaceChildren(...rows.map((r) => el('tr', {},
      el('td', { class: 'mono' }, fmtClock(r.time)),
      el('td', {}, r.command),
      el('td', { class: 'mono' }, r.app_id),
      el('td', {}, badge(r.outcome || (r.status >= 400 ? 'rejected' : '—'), outcomeKind(r))),
      el('td', { class: 'num' }, r.status),
      el('td', { class: 'num' }, fmtMs(r.latency_ms)),
      el('td', { class: 'mono' }, r.request_id),
      el('td', {}, r.reason || ''))));
    $('live-empty').hidden = rows.length > 0;
    setText('live-empty', liveRows.length ? 'No callback matches the filters.' : 'No callbacks yet.');
    setText('live-count', rows.length === liveRows.length ? plural(liveRows.length, 'callback') : rows.length + ' of ' + plural(liveRows.length, 'callback'));
    const outcomes = [...new Set(liveRows.map((r) => r.outcome).filter(Boolean))].sort();
    const list = $('live-outcomes');
    const shown = [...list.children].map((o) => o.value);
    if (shown.join('\n') !== outcomes.join('\n')) list.replaceChildren(...outcomes.map((o) => el('option', { value: o })));
  }

  for (const id of ['live-command', 'live-app', 'live-outcome']) $(id).addEventListener('input', renderLive);
  $('live-filters').addEventListener('submit', (e) => e.preventDefault());
  $('live-freeze').addEventListener('change', () => liveTimer.run());
  const liveTimer = poll(LIVE_MS, refreshLive, () => current === 'live');

  // ---------------------------------------------------------------- events

  let eventsNext = 0;
  let eventsSince = ''; // the since of the next pages: a duration's start when the first page was read
  let eventsQuery = '';
  let eventsPaged = false; // older pages loaded: no refresh then
  let eventsAsked = 0; // the number of the last request of searchEvents
  let eventsSearch = 0; // the number of the last search made (mode 'new')
  let eventsShown = 0; // the number of the search whose rows are shown
  let selectedSeq = 0;

  function eventsParams() {
    const q = new URLSearchParams();
    const put = (name, id) => {
      const v = $(id).value.trim();
      if (v) q.set(name, v);
    };
    put('command', 'events-command');
    put('app', 'events-app');
    const since = localSince($('events-since').value.trim());
    if (since) q.set('since', since);
    put('state', 'events-state');
    q.set('limit', String(EVENTS_PAGE));
    return q;
  }

  // LOCAL_TIME is a time as the tables show it: the browser's local time,
  // without a zone ("2026-12-05 09:30:00"; the seconds may be left out).
  const LOCAL_TIME = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?$/;

  // localSince is since as the service takes it: a time written as the
  // tables show it is read in the browser's zone, as they show it, and
  // sent as RFC 3339 (the service refused it, and the same time with a Z
  // named another instant off UTC); anything else is sent as typed.
  function localSince(v) {
    const m = LOCAL_TIME.exec(v);
    if (!m) return v;
    const [y, mo, d, h, mi, sec] = m.slice(1).map((x) => Number(x || 0));
    const t = new Date(y, mo - 1, d, h, mi, sec);
    // A date that does not exist (Feb 30) is left for the service to refuse.
    if (isNaN(t) || t.getFullYear() !== y || t.getMonth() !== mo - 1 || t.getDate() !== d || t.getHours() !== h || t.getMinutes() !== mi) return v;
    return t.toISOString();
  }

  // DURATION_MS are the units of a duration as the service reads one (a
  // setting's, config.ParseDuration): Go's, and d for a day of 24 hours,
  // in milliseconds.
  const DURATION_MS = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1e3, m: 6e4, h: 36e5, d: 864e5 };
  const DURATION_PART = /(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h|d)/g;

  // durationMs is a positive duration ("1h", "1h30m", "1.5h", "7d",
  // "1d12h") in milliseconds, as since takes it, or NaN for anything else
  // (a time).
  function durationMs(v) {
    const text = v.replace(/^\+/, '');
    if (!text || text.replace(DURATION_PART, '') !== '') return NaN;
    let ms = 0;
    for (const [, n, unit] of text.matchAll(DURATION_PART)) ms += Number(n) * DURATION_MS[unit];
    return ms > 0 ? ms : NaN;
  }

  // sinceAt is since as the time it named when the service answered at
  // `at` (the answer's Date, the service's clock): a duration counts back
  // from then, a time stays as it is. The older pages of a search ask for
  // that time: asked for the duration again, minutes later, they would
  // start later and leave out the oldest events the search selected.
  function sinceAt(since, at) {
    const ms = durationMs(since || '');
    if (isNaN(ms) || isNaN(at)) return since || '';
    return new Date(at - ms).toISOString();
  }

  // searchEvents runs the search of the form (mode 'new'), loads the next
  // page ('more') or reloads the first page of the last search ('refresh').
  // Only the answer to the last request is shown: a refresh still running
  // when a new search is made must not put the old search's rows back.
  // While a new search is awaited the rows shown are the search before's:
  // their next page is no longer offered (asked with the new filters from
  // the old search's place, it was appended to the old rows), and a
  // refresh that fails then clears them as the search's own failure does.
  async function searchEvents(mode) {
    const more = mode === 'more';
    if (more && !eventsNext) return;
    const q = mode === 'new' ? eventsParams() : new URLSearchParams(eventsQuery);
    if (more) {
      q.set('before_seq', String(eventsNext));
      if (eventsSince) q.set('since', eventsSince);
    }
    if (mode === 'new') {
      eventsQuery = q.toString();
      eventsSearch++;
      eventsNext = 0;
      $('events-more').hidden = true;
    }
    eventsPaged = more;
    const asked = ++eventsAsked;
    if (mode !== 'refresh') message('events-msg', 'Searching…');
    try {
      let answeredAt = NaN;
      const d = await api('v1/events?' + q.toString(), { onAnswer: (res) => { answeredAt = Date.parse(res.headers.get('Date') || ''); } });
      if (asked !== eventsAsked) return; // a later request's answer counts
      setMode('durable');
      const list = Array.isArray(d.events) ? d.events : [];
      const rows = list.map(eventRow);
      if (more) $('events-rows').append(...rows);
      else $('events-rows').replaceChildren(...rows);
      eventsNext = d.next_before_seq || 0;
      eventsShown = eventsSearch;
      if (!more) eventsSince = sinceAt(q.get('since'), answeredAt);
      $('events-more').hidden = !eventsNext;
      const shown = $('events-rows').children.length;
      // A page may hold fewer events than asked, or none, with older ones
      // still to search: the service reads a bounded stretch of the log
      // per page. Only a page without a next one says that none match.
      $('events-empty').hidden = shown > 0 || !!eventsNext;
      message('events-msg', shown === 0 && eventsNext
        ? 'No matching event among the newest searched; Older events searches further back'
        : shown + (eventsNext ? '+' : '') + (shown === 1 && !eventsNext ? ' event' : ' events'));
    } catch (e) {
      if (e.status === 409) setMode('inline');
      if (asked !== eventsAsked) return;
      if (eventsShown !== eventsSearch) {
        // The rows, and their next page, are the search before's: shown
        // under this one's error, they would read as its answer.
        $('events-rows').replaceChildren();
        eventsNext = 0;
        $('events-more').hidden = true;
        $('events-empty').hidden = true;
      }
      message('events-msg', e.status === 401 ? '' : 'GET /v1/events: ' + errorText(e), e.status !== 401);
    }
  }

  function eventRow(ev) {
    const open = () => openEvent(ev.seq);
    const tr = el('tr', {
      class: 'click' + (ev.seq === selectedSeq ? ' selected' : ''), tabIndex: 0, title: 'Show event ' + ev.seq,
      onclick: open, onkeydown: (e) => { if (e.key === 'Enter') open(); },
    },
    el('td', { class: 'num mono' }, ev.seq),
    el('td', {}, fmtTime(ev.received_at)),
    el('td', {}, ev.command, ev.destination ? el('span', { class: 'muted' }, ' → ' + ev.destination) : null,
      // A replayed copy carries its original's command, app and request
      // id: only this tells it from what IM sent.
      ev.replay_of ? el('span', { class: 'muted' }, ' (replay of ' + ev.replay_of + ')') : null),
    el('td', { class: 'mono' }, ev.app_id),
    el('td', {}, badge(ev.state, stateKind(ev.state))),
    el('td', { class: 'num' }, ev.deliveries || ''),
    el('td', { class: 'mono' }, ev.request_id),
    el('td', { class: 'mono' }, ev.last_error || ''));
    tr.dataset.seq = String(ev.seq);
    return tr;
  }

  function markSelected() {
    for (const tr of $('events-rows').children) tr.classList.toggle('selected', tr.dataset.seq === String(selectedSeq));
  }

  function fields(pairs) {
    return el('dl', { class: 'fields' }, pairs.filter(([, v]) => v !== undefined && v !== null && v !== '')
      .map(([k, v]) => [el('dt', {}, k), el('dd', {}, v instanceof Node ? v : String(v))]));
  }

  function prettyJSON(v) {
    try {
      return JSON.stringify(v, null, 2);
    } catch {
      return String(v);
    }
  }

  async function openEvent(seq) {
    selectedSeq = seq;
    markSelected();
    const box = $('event-detail');
    box.hidden = false;
    box.replaceChildren(el('p', { class: 'muted' }, 'Loading event ' + seq + '…'));
    let ev;
    try {
      ev = await api('v1/events/' + encodeURIComponent(String(seq)), { exact: true });
    } catch (e) {
      if (selectedSeq === seq) box.replaceChildren(el('p', { class: 'error' }, 'GET /v1/events/' + seq + ': ' + errorText(e)));
      return;
    }
    if (selectedSeq !== seq) return;
    const status = el('span', { class: 'muted' });
    // A dead event's Replay replays its dead letter, as the Dead letters
    // tab does: a copy of the event ({"seqs":[N]}) left the letter listed,
    // for a later Replay or Replay all to run the handler a second time.
    const dead = ev.state === 'dead';
    const replay = el('button', { type: 'button', class: 'replay', title: dead ? 'Replay its dead letter' : 'Run this event\'s handler again',
      onclick: () => replayEvent(seq, dead, replay, status) }, 'Replay');
    const params = ev.params && typeof ev.params === 'object' ? Object.keys(ev.params).sort() : [];
    box.replaceChildren(
      el('div', { class: 'detail-head' },
        el('h2', {}, 'Event ' + ev.seq),
        el('button', { type: 'button', class: 'small', onclick: () => { box.hidden = true; selectedSeq = 0; markSelected(); } }, 'Close')),
      fields([
        ['Command', ev.command], ['Destination', ev.destination || '—'], ['App', ev.app_id], ['Received', fmtTime(ev.received_at)],
        ['Request id', ev.request_id], ['Replay of', ev.replay_of], ['State', badge(ev.state, stateKind(ev.state))],
        ['Deliveries', ev.deliveries || ''], ['Last error', ev.last_error],
      ]),
      el('div', { class: 'actions' }, replay, status),
      el('h3', {}, 'Parameters'),
      params.length ? el('table', { class: 'list plain' }, el('tbody', {}, params.map((k) => el('tr', {},
        el('td', { class: 'mono' }, k), el('td', { class: 'mono' }, String(ev.params[k])))))) : el('p', { class: 'muted' }, 'None.'),
      el('h3', {}, 'Body'),
      el('pre', { class: 'json' }, prettyJSON(ev.body)));
  }

  // replayEvent replays event seq, its dead letter when dead.
  async function replayEvent(seq, dead, button, status) {
    button.disabled = true;
    status.className = 'muted';
    status.textContent = 'Replaying…';
    try {
      const r = await api('v1/events/replay', { method: 'POST', body: dead ? { dead: true, seqs: [seq] } : { seqs: [seq] } });
      const missing = Array.isArray(r.missing) && r.missing.length;
      const already = Array.isArray(r.already_replayed) && r.already_replayed.includes(seq);
      status.textContent = 'Replayed ' + r.replayed + (already ? '; its dead letter was replayed already (not run again)'
        : missing ? (dead ? '; no longer a dead letter' : '; no longer stored: ' + r.missing.join(', ')) : '') + '.';
      if (dead) deadTimer.run();
    } catch (e) {
      status.className = 'error';
      status.textContent = (e.unanswered ? 'Replay: ' : 'Replay failed: ') + errorText(e);
    } finally {
      button.disabled = false;
    }
    deliveryPoller.run();
  }

  $('events-form').addEventListener('submit', (e) => {
    e.preventDefault();
    searchEvents('new');
  });
  $('events-more').addEventListener('click', () => searchEvents('more'));
  poll(EVENTS_MS, () => searchEvents('refresh'), () => current === 'events' && opened.has('events') && !eventsPaged && deliveryMode !== 'inline');

  // ---------------------------------------------------------------- dead letters

  // seq → {text, error}: the note of the last replay of one dead letter,
  // shown again by every refresh while the letter is listed (a failed
  // replay leaves it listed, and its note says why).
  const replayedDead = new Map();

  // The dead letters whose Replay is under way, and whether Replay all is:
  // their buttons stay disabled when a refresh draws them again meanwhile
  // (a second click would send the replay again).
  const replayingDead = new Set();
  let replayingAll = false;

  async function refreshDead() {
    try {
      const d = await api('v1/dead-letters?limit=' + DEAD_LIMIT);
      setMode('durable');
      const list = Array.isArray(d.dead_letters) ? d.dead_letters : [];
      const total = typeof d.total === 'number' ? d.total : list.length;
      renderDead(list, total);
      message('dead-msg', d.truncated
        ? 'showing ' + list.length + ' of ' + total + ' dead letters, the oldest first'
        : plural(list.length, 'dead letter'));
    } catch (e) {
      if (e.status === 409) setMode('inline');
      else if (e.status !== 401) message('dead-msg', 'GET /v1/dead-letters: ' + errorText(e), true);
    }
  }

  // renderDead shows the listed dead letters of total.
  function renderDead(list, total) {
    const seqs = new Set(list.map((d) => d.seq));
    for (const k of replayedDead.keys()) if (!seqs.has(k)) replayedDead.delete(k);
    $('dead-rows').replaceChildren(...list.map((d) => {
      const kept = replayedDead.get(d.seq);
      const note = el('span', { class: kept && kept.error ? 'error' : 'muted' }, kept ? kept.text : '');
      const replay = el('button', { type: 'button', class: 'small replay', title: 'Run this event\'s handler again',
        disabled: replayingDead.has(d.seq), onclick: () => replayOne(d.seq, replay, note) }, 'Replay');
      const open = el('button', { type: 'button', class: 'small', title: 'Show the event with its body',
        onclick: () => { location.hash = 'events'; openEvent(d.seq); } }, 'Open');
      // Named after their letter: every row's read out alike otherwise.
      replay.setAttribute('aria-label', 'Replay dead letter ' + d.seq);
      open.setAttribute('aria-label', 'Open dead letter ' + d.seq);
      const tr = el('tr', {},
        el('td', { class: 'num mono' }, d.seq),
        el('td', {}, fmtTime(d.failed_at)),
        el('td', {}, d.command, d.destination ? el('span', { class: 'muted' }, ' → ' + d.destination) : null),
        el('td', { class: 'mono' }, d.app_id),
        el('td', { class: 'num' }, d.deliveries),
        el('td', { class: 'mono' }, d.last_error),
        el('td', {}, el('div', { class: 'actions' }, replay, open, note)));
      tr.dataset.seq = String(d.seq);
      return tr;
    }));
    $('dead-empty').hidden = list.length > 0;
    // Replay all replays every dead letter ({"dead":true}), listed or not.
    $('dead-replay-all').disabled = total === 0 || replayingAll;
    $('dead-replay-all').dataset.count = String(total);
    $('dead-replay-all').dataset.shown = String(list.length);
  }

  async function replayOne(seq, button, note) {
    if (replayingDead.has(seq)) return;
    replayingDead.add(seq);
    button.disabled = true;
    try {
      // The dead letter itself is republished and leaves the list.
      const r = await api('v1/events/replay', { method: 'POST', body: { dead: true, seqs: [seq] } });
      // A second click, or another operator's replay, took it already: it is not run twice.
      const already = Array.isArray(r.already_replayed) && r.already_replayed.includes(seq);
      const text = r.replayed ? 'replayed at ' + fmtClock(new Date().toISOString())
        : already ? 'already replayed (not run again)' : 'no longer a dead letter';
      rowNote(seq, note, text, false);
    } catch (e) {
      rowNote(seq, note, (e.unanswered ? 'replay: ' : 'replay failed: ') + errorText(e), true);
    } finally {
      replayingDead.delete(seq);
      button.disabled = false;
      // The row a refresh drew meanwhile holds the button now.
      const drawn = $('dead-rows').querySelector('tr[data-seq="' + seq + '"] button.replay');
      if (drawn) drawn.disabled = false;
    }
    deliveryPoller.run();
  }

  // rowNote shows text in note, the row of dead letter seq, and keeps it
  // for the rows the next refreshes draw.
  function rowNote(seq, note, text, error) {
    replayedDead.set(seq, { text, error });
    // The row a refresh drew while the replay was under way, if any, too.
    const drawn = $('dead-rows').querySelector('tr[data-seq="' + seq + '"] .actions > span:last-child');
    for (const n of new Set([note, drawn])) {
      if (!n) continue;
      n.textContent = text;
      n.className = error ? 'error' : 'muted';
    }
  }

  // replayOutcome shows what Replay all did in #dead-replay-msg, which the
  // list's refreshes leave alone: it stays until the next Replay all or
  // Dismiss ('' clears it).
  function replayOutcome(text, error) {
    message('dead-replay-msg', text, error);
    $('dead-replay-dismiss').hidden = !text;
  }

  $('dead-replay-dismiss').addEventListener('click', () => replayOutcome(''));

  $('dead-replay-all').addEventListener('click', async () => {
    const n = Number($('dead-replay-all').dataset.count || 0);
    const shown = Number($('dead-replay-all').dataset.shown || 0);
    if (!confirm('Replay all ' + n + ' dead letter' + (n === 1 ? '' : 's') + '? Each is republished for its handler and removed from the dead letters.' +
      (shown < n ? ' That is every dead letter, not only the ' + shown + ' listed here.' : ''))) return;
    const b = $('dead-replay-all');
    if (replayingAll) return;
    replayingAll = true;
    b.disabled = true;
    replayOutcome('Replaying every dead letter…');
    try {
      const r = await api('v1/events/replay', { method: 'POST', body: { dead: true } });
      // A long list is cut: its _count then counts them all.
      const already = listed(r.already_replayed, r.already_replayed_count);
      const missing = listed(r.missing, r.missing_count);
      replayOutcome('Replayed ' + r.replayed + '.' +
        (already ? ' ' + already + ' already replayed by another replay, not run again.' : '') +
        (missing ? ' ' + missing + ' had no dead letter any more, not replayed.' : ''));
    } catch (e) {
      replayOutcome((e.unanswered ? 'Replay all: ' : 'Replay failed: ') + errorText(e), true);
    } finally {
      replayingAll = false;
      b.disabled = Number(b.dataset.count || 0) === 0;
    }
    deadTimer.run();
    deliveryPoller.run();
  });

  // listed is how many sequences a replay's answer names in list, or
  // count when the service cut the list (count then says how many in all).
  function listed(list, count) {
    return count || (Array.isArray(list) ? list.length : 0);
  }

  const deadTimer = poll(DEAD_MS, refreshDead, () => current === 'dead');

  // ---------------------------------------------------------------- topics

  let topicsCursor = '';
  let topicsGroup = '';
  // topicsApp is the app searched: null for every app, '' for the topics
  // stored before apps were kept (the command line's --appid "").
  let topicsApp = null;
  let topicsPaged = false;
  let topicsAsked = 0; // the number of the last request of searchTopics
  let topicsSearch = 0; // the number of the last search made (mode 'new')
  let topicsShown = 0; // the number of the search whose rows are shown
  let selectedTopic = '';

  // topicsKnown is set once the probe had its answer: the topic plugin's
  // API is there (2xx) or not (404).
  let topicsKnown = false;

  // probeTopics shows the Topics tab when the topic plugin's API is there.
  // Until it is known (no answer within READ_MS, a failure) the tab is
  // shown, opened if asked for, and its page says why; the probe asks
  // again every TOPICS_MS (topicsProbe) until it has its answer.
  async function probeTopics() {
    try {
      await api('v1/topics?limit=1');
      topicsKnown = true;
    } catch (e) {
      if (e.status === 404) {
        topicsKnown = true;
        $('tab-topics').hidden = true;
        if (current === 'topics') showTab('overview');
        return;
      }
      if (e.status === 401) return;
    }
    $('tab-topics').hidden = false;
    if (location.hash === '#topics' && current !== 'topics') showTab('topics');
  }

  // searchTopics is searchEvents for topics: modes new, more and refresh,
  // the answer to the last request only shown, no next page of the search
  // before offered while a new one is awaited.
  async function searchTopics(mode) {
    const more = mode === 'more';
    if (more && !topicsCursor) return;
    const q = new URLSearchParams();
    if (mode === 'new') {
      topicsGroup = $('topics-group').value.trim();
      topicsApp = $('topics-legacy').checked ? '' : ($('topics-app').value.trim() || null);
      topicsSearch++;
      topicsCursor = '';
      $('topics-more').hidden = true;
    }
    if (topicsApp !== null) q.set('sdk_app_id', topicsApp);
    if (topicsGroup) q.set('group_id', topicsGroup);
    q.set('limit', String(TOPICS_PAGE));
    if (more && topicsCursor) q.set('cursor', topicsCursor);
    topicsPaged = more;
    const asked = ++topicsAsked;
    if (mode !== 'refresh') message('topics-msg', 'Searching…');
    try {
      const d = await api('v1/topics?' + q.toString());
      if (asked !== topicsAsked) return; // a later request's answer counts
      const list = Array.isArray(d.topics) ? d.topics : [];
      const rows = list.map(topicRow);
      if (more) $('topics-rows').append(...rows);
      else $('topics-rows').replaceChildren(...rows);
      topicsCursor = d.next_cursor || '';
      topicsShown = topicsSearch;
      $('topics-more').hidden = !topicsCursor;
      const shown = $('topics-rows').children.length;
      $('topics-empty').hidden = shown > 0;
      message('topics-msg', shown + (topicsCursor ? '+' : '') + (shown === 1 && !topicsCursor ? ' topic' : ' topics'));
    } catch (e) {
      if (asked !== topicsAsked) return;
      if (topicsShown !== topicsSearch) { // as for events: no rows of the search before
        $('topics-rows').replaceChildren();
        topicsCursor = '';
        $('topics-more').hidden = true;
        $('topics-empty').hidden = true;
      }
      message('topics-msg', e.status === 401 ? '' : 'GET /v1/topics: ' + errorText(e), e.status !== 401);
    }
  }

  // A topic is its app and its id: apps may hold the same TopicId. The app is
  // "" for topics stored before apps were kept.
  function topicKey(app, id) { return String(app || '') + '/' + String(id); }

  function topicRow(t) {
    const key = topicKey(t.sdk_app_id, t.topic_id);
    const open = () => openTopic(t.sdk_app_id || '', t.topic_id);
    const tr = el('tr', {
      class: 'click' + (key === selectedTopic ? ' selected' : ''), tabIndex: 0, title: 'Show this topic',
      onclick: open, onkeydown: (e) => { if (e.key === 'Enter') open(); },
    },
    el('td', { class: 'mono' }, t.sdk_app_id || '—'),
    el('td', { class: 'mono' }, t.topic_id),
    el('td', { class: 'mono' }, t.group_id),
    el('td', {}, t.name),
    el('td', {}, t.type),
    el('td', {}, t.owner_account),
    el('td', {}, fmtTime(t.created_at)),
    el('td', {}, fmtTime(t.updated_at)));
    tr.dataset.topic = key;
    return tr;
  }

  // markSelectedTopic marks the row of the topic shown, and no other.
  function markSelectedTopic() {
    for (const tr of $('topics-rows').children) tr.classList.toggle('selected', tr.dataset.topic === selectedTopic);
  }

  async function openTopic(app, id) {
    const key = topicKey(app, id);
    selectedTopic = key;
    markSelectedTopic();
    const box = $('topic-detail');
    box.hidden = false;
    box.replaceChildren(el('p', { class: 'muted' }, 'Loading…'));
    let t;
    try {
      t = await api('v1/topics/' + encodeURIComponent(id) + '?' + new URLSearchParams({ sdk_app_id: app }).toString());
    } catch (e) {
      if (selectedTopic === key) box.replaceChildren(el('p', { class: 'error' }, 'GET /v1/topics/…: ' + errorText(e)));
      return;
    }
    if (selectedTopic !== key) return;
    const custom = Array.isArray(t.custom_data) ? t.custom_data : [];
    box.replaceChildren(
      el('div', { class: 'detail-head' },
        el('h2', {}, t.name || t.topic_id),
        el('button', { type: 'button', class: 'small', onclick: () => { box.hidden = true; selectedTopic = ''; markSelectedTopic(); } }, 'Close')),
      fields([
        ['App', t.sdk_app_id || '(stored before apps were kept)'], ['Topic id', t.topic_id], ['Group id', t.group_id], ['Name', t.name], ['Type', t.type],
        ['Owner', t.owner_account], ['Operator', t.operator_account], ['Introduction', t.introduction],
        ['Notification', t.notification], ['Face URL', t.face_url], ['Created', fmtTime(t.created_at)],
        ['Updated', fmtTime(t.updated_at)], ['Deleted', t.deleted_at ? fmtTime(t.deleted_at) : ''],
      ]),
      el('h3', {}, 'Custom data'),
      custom.length ? el('table', { class: 'list plain' }, el('tbody', {}, custom.map((f) => el('tr', {},
        el('td', { class: 'mono' }, f.key), el('td', {}, f.value))))) : el('p', { class: 'muted' }, 'None.'),
      el('h3', {}, 'As stored'),
      el('pre', { class: 'json' }, prettyJSON(t)));
  }

  $('topics-form').addEventListener('submit', (e) => {
    e.preventDefault();
    searchTopics('new');
  });
  $('topics-more').addEventListener('click', () => searchTopics('more'));
  // The topics stored before apps were kept have no app: the app field is
  // off while they are chosen.
  $('topics-legacy').addEventListener('change', () => { $('topics-app').disabled = $('topics-legacy').checked; });
  poll(TOPICS_MS, () => searchTopics('refresh'), () => current === 'topics' && opened.has('topics') && !topicsPaged);
  const topicsProbe = poll(TOPICS_MS, probeTopics, () => !topicsKnown);

  // ---------------------------------------------------------------- start

  // A token kept in the tab that tokenProblem refuses (kept by a console
  // from before the check) cannot be sent either: it is dropped, and the
  // form asks for one.
  let refused = '';
  try {
    refused = sessionStorage.getItem(REFUSED_KEY) || '';
    sessionStorage.removeItem(REFUSED_KEY);
  } catch {
    refused = '';
  }
  if (refused && !storedToken()) showTokenForm(refused);
  const keptProblem = tokenProblem(storedToken());
  if (keptProblem) {
    sessionStorage.removeItem(TOKEN_KEY);
    showTokenForm('The token kept for this tab was dropped. ' + keptProblem);
  }
  updateTokenButton();
  topicsProbe.run();
  showTab(location.hash.slice(1) || 'overview');
})();
