// The green-power page: log in with a token (kept in this tab's sessionStorage), pick a day
// and a park, and read what the JSON API (/api/v1) returns. The API decides who may see
// what; the page only shows what it is given and says so when it is refused.
//
// Location hash: #day=YYYY-MM-DD&park=NAME, or #day=YYYY-MM-DD&view=plant (operators).
'use strict';

(function () {
  const TOKEN_KEY = 'vpp.token';
  const PLANT = ''; // the park <select>'s value for the whole-plant view
  const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2',
    '#7f7f7f', '#bcbd22', '#17becf', '#393b79', '#637939', '#8c6d31', '#843c39', '#7b4173'];

  const $ = (id) => document.getElementById(id);
  const charts = new Map();
  let me = null;
  let loadSeq = 0;

  // ---------------------------------------------------------------- formatting

  const pct = (x) => (x * 100).toFixed(2) + ' %';
  const num = (x, digits) => x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  const mwh = (x) => num(x, 1) + ' MWh';

  function show(id, on) { $(id).hidden = !on; }

  function setText(id, text, value) {
    const el = $(id);
    el.textContent = text;
    if (value !== undefined) el.dataset.value = String(value);
  }

  function cell(tr, text) {
    const td = document.createElement('td');
    td.textContent = text;
    tr.appendChild(td);
    return td;
  }

  function textCell(tr, text) {
    cell(tr, text).className = 'text';
  }

  function fail(message) {
    const el = $('error');
    el.textContent = message;
    el.hidden = false;
  }

  // ---------------------------------------------------------------- API

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  async function api(path) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    const headers = token ? { Authorization: 'Bearer ' + token } : {};
    let response;
    try {
      response = await fetch(path, { headers, cache: 'no-store' });
    } catch (e) {
      throw new ApiError(0, 'the server cannot be reached (' + e.message + ')');
    }
    let body = null;
    try { body = await response.json(); } catch (_) { body = null; }
    if (!response.ok) {
      throw new ApiError(response.status, (body && body.error) || response.statusText);
    }
    return body;
  }

  // The set-points CSV (operators), fetched with the token like every API call.
  async function apiText(path) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    const headers = token ? { Authorization: 'Bearer ' + token } : {};
    const response = await fetch(path, { headers, cache: 'no-store' });
    if (!response.ok) throw new ApiError(response.status, response.statusText);
    return response.text();
  }

  // The set-points table: a row per asset and quantity, a column per interval (local
  // start), from the same CSV the download gives.
  async function renderSetpoints(day) {
    const path = '/api/v1/days/' + encodeURIComponent(day) + '/setpoints.csv';
    const csv = await apiText(path);
    const lines = csv.trim().split('\n').slice(1).map((l) => l.split(','));
    const starts = [];
    const rows = new Map();
    for (const [, local, , kind, asset, , quantity, unit, value] of lines) {
      const label = local.slice(11);
      if (!starts.includes(label)) starts.push(label);
      const key = asset + ' ' + quantity + ' (' + unit + ')';
      if (!rows.has(key)) rows.set(key, { kind, asset, values: [] });
      rows.get(key).values.push(Number(value));
    }
    const table = $('setpoints');
    const head = table.tHead.rows[0];
    head.replaceChildren();
    for (const h of ['Asset', ...starts]) {
      const th = document.createElement('th');
      th.textContent = h;
      head.appendChild(th);
    }
    const body = table.tBodies[0];
    body.replaceChildren();
    for (const [key, r] of rows) {
      const tr = document.createElement('tr');
      tr.dataset.asset = r.asset;
      textCell(tr, key);
      for (const v of r.values) cell(tr, num(v, 1));
      body.appendChild(tr);
    }
    $('setpoints-download').onclick = () => {
      const url = URL.createObjectURL(new Blob([csv], { type: 'text/csv' }));
      const a = document.createElement('a');
      a.href = url;
      a.download = 'setpoints-' + day + '.csv';
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    };
  }

  // The park's measured monthly statement (printable HTML, or CSV with the certificate
  // ids), fetched with the token and handed to the browser as a file.
  function statementButtons(park, day) {
    const month = day.slice(0, 7);
    setText('statement-month', month);
    $('statement-note').textContent = '';
    const path = (ext) => '/api/v1/parks/' + encodeURIComponent(park) + '/statement.' + ext + '?month=' + month;
    const fetchAs = async (ext, type, open) => {
      $('statement-note').textContent = '';
      try {
        const text = await apiText(path(ext));
        const url = URL.createObjectURL(new Blob([text], { type }));
        const a = document.createElement('a');
        a.href = url;
        if (open) a.target = '_blank'; else a.download = 'statement-' + park + '-' + month + '.' + ext;
        document.body.appendChild(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 60000);
      } catch (e) {
        $('statement-note').textContent = e.status === 404
          ? 'No meter readings for ' + month + ' yet.'
          : 'The statement could not be fetched (' + e.message + ').';
      }
    };
    $('statement-open').onclick = () => fetchAs('html', 'text/html', true);
    $('statement-download').onclick = () => fetchAs('csv', 'text/csv', false);
  }

  // ---------------------------------------------------------------- charts

  function chart(id, config) {
    const old = charts.get(id);
    if (old) old.destroy();
    config.options = Object.assign({
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: 'index', intersect: false },
      plugins: { legend: { position: 'bottom', labels: { boxWidth: 12 } } },
    }, config.options || {});
    charts.set(id, new Chart($(id), config));
  }

  function destroyCharts() {
    for (const c of charts.values()) c.destroy();
    charts.clear();
  }

  function stackChart(id, labels, sources) {
    const layers = sources.layers.filter((l) => l.shown);
    chart(id, {
      type: 'bar',
      data: {
        labels,
        datasets: layers.map((l) => ({
          label: l.label,
          data: l.mw,
          backgroundColor: l.colour,
          borderWidth: 0,
          barPercentage: 1.0,
          categoryPercentage: 1.0,
        })),
      },
      options: {
        scales: {
          x: { stacked: true },
          y: { stacked: true, beginAtZero: true, title: { display: true, text: sources.unit } },
        },
      },
    });
  }

  // ---------------------------------------------------------------- login

  function showLogin(message) {
    destroyCharts();
    for (const id of ['controls', 'park-view', 'plant-view', 'whoami', 'error', 'empty', 'loading']) show(id, false);
    show('login', true);
    const err = $('login-error');
    err.textContent = message || '';
    err.hidden = !message;
    $('token').value = '';
    $('token').focus();
  }

  async function start() {
    try {
      me = await api('/api/v1/me');
    } catch (e) {
      sessionStorage.removeItem(TOKEN_KEY);
      if (e.status === 401) return showLogin('This token is not known. Check it and try again.');
      if (e.status === 403) return showLogin('This token has no access to this page (' + e.message + ').');
      return showLogin('Cannot log in: ' + e.message);
    }
    show('login', false);
    setText('plant-name', '· ' + me.plant);
    setText('who', me.role === 'operator'
      ? 'Grid operator' + (me.name ? ' ' + me.name : '')
      : 'Park energy manager · ' + me.park);
    $('who').dataset.role = me.role;
    show('whoami', true);

    const parkSelect = $('park');
    parkSelect.replaceChildren();
    if (me.plant_view) parkSelect.appendChild(new Option('Whole plant', PLANT));
    for (const p of me.parks) parkSelect.appendChild(new Option(p.name, p.name));

    let days;
    try {
      days = (await api('/api/v1/days')).days;
    } catch (e) {
      return fail('Cannot list the published days: ' + e.message + ' (' + e.status + ')');
    }
    const daySelect = $('day');
    daySelect.replaceChildren();
    for (const d of days) daySelect.appendChild(new Option(d.day + '  (v' + d.version + ')', d.day));
    show('controls', true);
    if (days.length === 0 && !readHash().day) {
      show('empty', true);
      return;
    }
    await fromHash();
  }

  // ---------------------------------------------------------------- navigation

  function readHash() {
    const q = new URLSearchParams(location.hash.replace(/^#/, ''));
    return { day: q.get('day'), park: q.get('park'), plant: q.get('view') === 'plant' };
  }

  function writeHash(day, park) {
    const q = new URLSearchParams();
    q.set('day', day);
    if (park === PLANT) q.set('view', 'plant'); else q.set('park', park);
    const hash = '#' + q.toString();
    if (location.hash !== hash) history.replaceState(null, '', hash);
  }

  function ensureOption(select, value, label) {
    if (![...select.options].some((o) => o.value === value)) select.appendChild(new Option(label, value));
    select.value = value;
  }

  async function fromHash() {
    if (!me) return;
    const h = readHash();
    const daySelect = $('day');
    const parkSelect = $('park');
    if (h.day) ensureOption(daySelect, h.day, h.day);
    let park;
    if (h.plant) park = PLANT;
    else if (h.park !== null) park = h.park;
    else park = me.park || (me.parks[0] && me.parks[0].name) || PLANT;
    // A park that is not in the list (someone else's link) is still asked for: the server
    // decides, and its refusal is shown.
    ensureOption(parkSelect, park, park === PLANT ? 'Whole plant' : park);
    await load();
  }

  async function load() {
    const day = $('day').value;
    const park = $('park').value;
    if (!day) return;
    writeHash(day, park);
    const seq = ++loadSeq;
    destroyCharts();
    for (const id of ['error', 'park-view', 'plant-view', 'empty']) show(id, false);
    setText('schedule-info', '');
    show('loading', true);
    try {
      if (park === PLANT) {
        const d = await api('/api/v1/days/' + encodeURIComponent(day) + '/plant');
        if (seq === loadSeq) renderPlant(d);
        if (seq === loadSeq) await renderSetpoints(day);
      } else {
        const d = await api('/api/v1/days/' + encodeURIComponent(day) + '/parks/' + encodeURIComponent(park));
        if (seq === loadSeq) renderPark(d);
      }
    } catch (e) {
      if (seq !== loadSeq) return;
      if (e.status === 401) {
        sessionStorage.removeItem(TOKEN_KEY);
        return showLogin('Your token is no longer accepted. Log in again.');
      }
      const what = park === PLANT ? 'the whole plant' : park;
      if (e.status === 403) fail('Refused (403): you may not see ' + what + ' — ' + e.message + '.');
      else if (e.status === 404) fail('Nothing to show for ' + what + ' on ' + day + ': ' + e.message + '.');
      else fail('Could not load ' + what + ' on ' + day + ': ' + e.message + (e.status ? ' (' + e.status + ')' : '') + '.');
      $('error').dataset.status = String(e.status);
    } finally {
      if (seq === loadSeq) show('loading', false);
    }
  }

  // Publication time in the plant's zone (not the browser's), and which hours of the day
  // come from which version after a re-plan.
  function scheduleInfo(d, share) {
    let published = d.published_at;
    try {
      published = new Date(d.published_at).toLocaleString('sv-SE', { timeZone: d.timezone }).slice(0, 16);
    } catch (e) {
      published = d.published_at;
    }
    const pieces = (share && share.pieces) || [];
    const from = pieces.length > 1
      ? ' · ' + pieces.map((p) => p.from + '–' + p.to + ' from v' + p.version).join(', ')
      : '';
    setText('schedule-info', 'schedule v' + d.version + ', ' + d.objective + ', published '
      + published + ' (' + d.timezone + ')' + from + ' · times in ' + d.timezone);
  }

  // ---------------------------------------------------------------- park view

  function renderPark(d) {
    const s = d.share;
    setText('park-title', d.park + ' · ' + d.day);
    $('park-view').dataset.park = d.park;
    $('park-view').dataset.day = d.day;
    statementButtons(d.park, d.day);
    setText('day-share', pct(s.share), s.share);
    setText('day-target', s.min_share === null ? 'none' : pct(s.min_share), s.min_share === null ? '' : s.min_share);
    const verdict = $('day-verdict');
    if (s.meets_target === null) {
      verdict.textContent = 'no target set';
      verdict.className = 'verdict';
    } else {
      verdict.textContent = s.meets_target ? 'meets the target' : 'below the target';
      verdict.className = 'verdict ' + (s.meets_target ? 'ok' : 'bad');
    }
    setText('day-demand', mwh(s.demand_mwh), s.demand_mwh);
    setText('day-interrupted', mwh(s.interrupted_mwh), s.interrupted_mwh);
    setText('day-served', mwh(s.served_mwh), s.served_mwh);
    setText('day-green', mwh(s.green_mwh), s.green_mwh);
    setText('day-certificates', String(s.certificates), s.certificates);
    setText('price-node', d.price.node);
    scheduleInfo(d, s);

    const body = $('hours').tBodies[0];
    body.replaceChildren();
    s.intervals.forEach((i, t) => {
      const tr = document.createElement('tr');
      tr.dataset.index = String(t);
      tr.dataset.label = i.label;
      if (i.below_target) tr.className = 'below';
      cell(tr, i.label);
      cell(tr, 'v' + i.version).className = 'version';
      cell(tr, num(i.demand_mwh, 1)).className = 'demand';
      cell(tr, num(i.interrupted_mwh, 1)).className = 'interrupted';
      cell(tr, num(i.served_mwh, 1)).className = 'served';
      cell(tr, num(i.green_mwh, 1)).className = 'green';
      cell(tr, pct(i.share)).className = 'share';
      textCell(tr, i.below_target ? 'below target' : '');
      body.appendChild(tr);
    });
    show('park-view', true);

    const datasets = [{
      type: 'bar',
      label: 'Green share %',
      data: s.intervals.map((i) => i.share * 100),
      backgroundColor: s.intervals.map((i) => (i.below_target ? '#e57373' : '#43a047')),
      order: 2,
    }];
    if (s.min_share !== null) {
      datasets.push({
        type: 'line',
        label: 'Target ' + pct(s.min_share),
        data: s.intervals.map(() => s.min_share * 100),
        borderColor: '#c62828',
        borderDash: [6, 4],
        pointRadius: 0,
        order: 1,
      });
    }
    datasets.push({
      type: 'line',
      label: 'Day ' + pct(s.share),
      data: s.intervals.map(() => s.share * 100),
      borderColor: '#1b5e20',
      pointRadius: 0,
      order: 0,
    });
    chart('chart-share', {
      data: { labels: d.labels, datasets },
      options: { scales: { y: { min: 0, max: 100, title: { display: true, text: '%' } } } },
    });
    stackChart('chart-sources', d.labels, d.sources);
    chart('chart-storage', {
      type: 'line',
      data: {
        labels: d.storage.labels,
        datasets: [
          { label: 'Green', data: d.storage.green_mwh, borderColor: '#31a354', backgroundColor: 'rgba(49,163,84,0.5)', fill: 'origin', pointRadius: 0 },
          { label: 'Grey', data: d.storage.grey_mwh, borderColor: '#8c6bb1', backgroundColor: 'rgba(140,107,177,0.4)', fill: '-1', pointRadius: 0 },
        ],
      },
      options: { scales: { y: { stacked: true, beginAtZero: true, title: { display: true, text: 'MWh' } } } },
    });
    chart('chart-price', {
      type: 'line',
      data: {
        labels: d.labels,
        datasets: [{ label: d.price.node, data: d.price.yuan_per_mwh, borderColor: '#ef6c00', stepped: 'before', pointRadius: 2 }],
      },
      options: { scales: { y: { title: { display: true, text: 'yuan/MWh' } } } },
    });
  }

  // ---------------------------------------------------------------- plant view

  function renderPlant(d) {
    const s = d.share;
    const t = d.totals;
    setText('plant-title', 'Plant ' + d.plant + ' · ' + d.day);
    $('plant-view').dataset.day = d.day;
    setText('plant-share', pct(s.share), s.share);
    setText('plant-served', mwh(s.served_mwh), s.served_mwh);
    setText('plant-green', mwh(s.green_mwh), s.green_mwh);
    setText('plant-curtailed', mwh(t.curtailed_mwh), t.curtailed_mwh);
    setText('plant-exchange', num(t.imported_mwh, 0) + ' / ' + num(t.exported_mwh, 0) + ' MWh');
    setText('plant-cost', num(t.cost_yuan, 0) + ' yuan', t.cost_yuan);
    setText('plant-co2', num(t.co2_t, 1) + ' t', t.co2_t);
    scheduleInfo(d, s);

    const parks = $('plant-parks').tBodies[0];
    parks.replaceChildren();
    for (const p of d.parks) {
      const tr = document.createElement('tr');
      tr.dataset.park = p.name;
      if (p.meets_target === false) tr.className = 'below';
      textCell(tr, p.name);
      textCell(tr, p.node);
      cell(tr, num(p.demand_mwh, 1)).className = 'demand';
      cell(tr, num(p.interrupted_mwh, 1)).className = 'interrupted';
      cell(tr, num(p.served_mwh, 1)).className = 'served';
      cell(tr, num(p.green_mwh, 1)).className = 'green';
      cell(tr, pct(p.share)).className = 'share';
      cell(tr, p.min_share === null ? '–' : pct(p.min_share));
      textCell(tr, p.meets_target === null ? '' : (p.meets_target ? 'meets target' : 'below target'));
      parks.appendChild(tr);
    }
    const lines = $('plant-lines').tBodies[0];
    lines.replaceChildren();
    for (const l of d.lines) {
      const tr = document.createElement('tr');
      tr.dataset.line = l.name;
      const hot = l.loading.filter((x) => x >= 0.95).length;
      if (hot > 0) tr.className = 'hot';
      textCell(tr, l.name);
      textCell(tr, l.from);
      textCell(tr, l.to);
      cell(tr, num(l.max_loading * 100, 1) + ' %').className = 'max-loading';
      cell(tr, String(hot));
      lines.appendChild(tr);
    }
    const warnings = $('plant-warnings');
    warnings.replaceChildren();
    for (const w of d.warnings.length ? d.warnings : ['none']) {
      const li = document.createElement('li');
      li.textContent = w;
      warnings.appendChild(li);
    }
    show('plant-view', true);

    stackChart('chart-plant-sources', d.labels, d.sources);
    chart('chart-lines', {
      type: 'line',
      data: {
        labels: d.labels,
        // Readable with many lines: the five most loaded are drawn, the others stay in the
        // legend, hidden until clicked.
        datasets: d.lines
          .map((l) => l)
          .sort((a, b) => b.max_loading - a.max_loading)
          .map((l, k) => ({
            label: l.name + ' (peak ' + num(l.max_loading * 100, 0) + ' %)',
            data: l.loading.map((x) => x * 100),
            borderColor: PALETTE[k % PALETTE.length],
            pointRadius: 0,
            borderWidth: k < 5 ? 2.5 : 1,
            hidden: k >= 5,
          }))
          .concat([{ label: 'limit', data: d.labels.map(() => 100), borderColor: '#c62828', borderDash: [6, 4], pointRadius: 0 }]),
      },
      options: { scales: { y: { beginAtZero: true, suggestedMax: 100, title: { display: true, text: '%' } } } },
    });
    const curtailing = d.renewables.filter((r) => r.curtailed_mwh > 1e-6);
    const curtailed = curtailing.length
      ? curtailing.map((r, k) => ({
        label: r.name + ' (' + r.kind + ', ' + num(r.curtailed_mwh, 0) + ' MWh)',
        data: r.curtailed_mw,
        backgroundColor: PALETTE[k % PALETTE.length],
      }))
      : [{ label: 'No wind or PV curtailed on this day', data: d.curtailed_mw, backgroundColor: '#9e9e9e' }];
    chart('chart-curtailment', {
      type: 'bar',
      data: {
        labels: d.labels,
        datasets: curtailed.map((ds) => Object.assign(ds, { barPercentage: 1.0, categoryPercentage: 1.0 })),
      },
      options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, title: { display: true, text: 'MW' } } } },
    });
    const storage = [];
    d.storage.units.forEach((u, k) => {
      const c = PALETTE[k % PALETTE.length];
      storage.push({ label: u.name + ' green', data: u.green_mwh, borderColor: c, backgroundColor: c + 'aa', fill: k === 0 ? 'origin' : '-1', pointRadius: 0, stack: 's' });
      storage.push({ label: u.name + ' grey', data: u.grey_mwh, borderColor: c, backgroundColor: c + '40', fill: '-1', pointRadius: 0, stack: 's' });
    });
    chart('chart-plant-storage', {
      type: 'line',
      data: { labels: d.storage.labels, datasets: storage },
      options: { scales: { y: { stacked: true, beginAtZero: true, title: { display: true, text: 'MWh' } } } },
    });
    chart('chart-prices', {
      type: 'line',
      data: {
        labels: d.labels,
        datasets: d.nodes.map((n, k) => ({ label: n.node, data: n.yuan_per_mwh, borderColor: PALETTE[k % PALETTE.length], stepped: 'before', pointRadius: 0, borderWidth: 1.5 })),
      },
      options: { scales: { y: { title: { display: true, text: 'yuan/MWh' } } } },
    });
  }

  // ---------------------------------------------------------------- wiring

  document.addEventListener('DOMContentLoaded', () => {
    $('login-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const token = $('token').value.trim();
      if (!token) return;
      sessionStorage.setItem(TOKEN_KEY, token);
      start();
    });
    $('logout').addEventListener('click', () => {
      sessionStorage.removeItem(TOKEN_KEY);
      me = null;
      history.replaceState(null, '', location.pathname);
      showLogin('');
    });
    $('day').addEventListener('change', load);
    $('park').addEventListener('change', load);
    window.addEventListener('hashchange', fromHash);
    if (typeof Chart === 'undefined') {
      fail('The chart library did not load.');
    }
    if (sessionStorage.getItem(TOKEN_KEY)) start(); else showLogin('');
  });
}());
