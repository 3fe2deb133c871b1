'use strict';
// The page of `bnstep html` (docs/html-page.md). Every number and every line of
// text comes from the embedded data, which bnstep's own printers wrote: this
// script only lays it out. It sets text with textContent, never as markup.
function main() {
  const data = JSON.parse(document.getElementById('bnstep-data').textContent);
  const run = data.run;
  const page = data.page;
  const nodeIndex = new Map(run.nodes.map((n, i) => [n.name, i]));
  const steps = [];
  run.nodes.forEach((n, i) => steps.push({ pass: 'forward', node: i, k: i + 1 }));
  run.backward_order.forEach((name, k) => steps.push({ pass: 'backward', node: nodeIndex.get(name), k: k + 1 }));
  const forwardCount = run.nodes.length;
  const backwardCount = run.backward_order.length;
  const answers = new Map();  // step index -> { tries, done, lines }
  let current = 0;

  const $ = (id) => document.getElementById(id);
  const panel = $('panel');
  const worked = $('worked');

  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') e.className = value;
      else if (key === 'text') e.textContent = value;
      else if (key === 'dataset') Object.assign(e.dataset, value);
      else if (key === 'hidden') e.hidden = true;
      else e.setAttribute(key, String(value));
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  function flat(value) {
    return Array.isArray(value) ? value.flat(Infinity) : [value];
  }

  function unravel(k, shape) {
    const index = new Array(shape.length);
    for (let a = shape.length - 1; a >= 0; --a) {
      index[a] = k % shape[a];
      k = Math.floor(k / shape[a]);
    }
    return index;
  }

  // A tensor as tables: a row for a vector, a matrix as it is, higher ranks one
  // table per leading index. `onPick(k, td)` makes the cells clickable.
  function tensorBlock(tensor, label, shown, raw, onPick) {
    const block = el('section', { class: 'tensor-block', dataset: { tensor } });
    if (label) block.append(el('p', { class: 'tensor-label' }, label));
    if (!shown) return block;
    if (shown.summary !== undefined) {
      block.append(el('p', { class: 'summary mono', text: shown.summary }));
      return block;
    }
    const shape = shown.shape;
    const values = flat(raw);
    const cols = shape.length === 0 ? 1 : shape[shape.length - 1];
    const rows = shape.length < 2 ? 1 : shape[shape.length - 2];
    const perTable = rows * cols;
    const tables = perTable === 0 ? 0 : shown.text.length / perTable;
    for (let t = 0; t < tables; ++t) {
      const table = el('table', { class: 'tensor' });
      if (shape.length > 2) {
        const lead = unravel(t * perTable, shape).slice(0, shape.length - 2);
        table.append(el('caption', { text: `[${lead.join(',')},:,:]` }));
      }
      for (let r = 0; r < rows; ++r) {
        const tr = el('tr');
        for (let c = 0; c < cols; ++c) {
          const k = t * perTable + r * cols + c;
          const td = el('td', {
            text: shown.text[k],
            dataset: { index: unravel(k, shape).join(','), raw: String(values[k]) },
          });
          if (onPick) {
            td.className = 'clickable';
            td.tabIndex = 0;
            td.addEventListener('click', () => onPick(k, td));
            td.addEventListener('keydown', (ev) => {
              if (ev.key === 'Enter' || ev.key === ' ') {
                ev.preventDefault();
                onPick(k, td);
              }
            });
          }
          tr.append(td);
        }
        table.append(tr);
      }
      block.append(el('div', { class: 'table-wrap' }, table));
    }
    return block;
  }

  // A worked element as `trace` prints it: lhs = symbolic = numeric = result, then its notes.
  function workedLines(w) {
    const lines = [el('p', { class: 'line' }, el('span', { class: 'lhs', text: w.lhs }), ' = ',
      el('span', { class: 'symbolic', text: w.symbolic }))];
    const numeric = el('p', { class: 'line' }, '= ', el('span', { class: 'numeric', text: w.numeric }));
    if (!w.numeric || w.numeric === w.symbolic) numeric.hidden = true;
    lines.push(numeric);
    const last = w.numeric ? w.numeric : w.symbolic;
    const result = el('p', { class: 'line' }, '= ',
      el('span', { class: 'result', text: w.result_text, dataset: { raw: String(w.result) } }));
    if (last === w.result_text) result.hidden = true;
    lines.push(result);
    for (const note of w.notes) {
      if (note.startsWith(' ')) lines.push(el('pre', { class: 'note', text: note }));
      else lines.push(el('p', { class: 'line' }, 'where ', el('span', { class: 'note', text: note })));
    }
    return lines;
  }

  function showWorked(title, w, td) {
    for (const s of panel.querySelectorAll('td.selected')) s.classList.remove('selected');
    if (td) td.classList.add('selected');
    worked.replaceChildren(el('h3', { text: title }), ...workedLines(w));
    // Right under the table clicked.
    const block = td ? td.closest('.tensor-block') : null;
    if (block) block.after(worked);
    worked.hidden = false;
    worked.scrollIntoView({ block: 'nearest' });
  }

  function inBox(index, box) {
    const rank = box.length / 2;
    for (let a = 0; a < rank; ++a) if (index[a] < box[a] || index[a] >= box[rank + a]) return false;
    return true;
  }

  // `sources`: the flat offsets of the upstream elements a gradient element came from, or a box holding them.
  function markFrom(sources) {
    const cells = panel.querySelectorAll('[data-tensor="grad"] td');
    const offsets = Array.isArray(sources) ? new Set(sources) : null;
    cells.forEach((td, k) => {
      const index = td.dataset.index === '' ? [] : td.dataset.index.split(',').map(Number);
      const from = offsets ? offsets.has(k) : sources !== null && inBox(index, sources.box);
      td.classList.toggle('from', from);
    });
  }

  function note(text) {
    return text ? el('p', { class: 'note-text muted', text }) : null;
  }

  function textBlock(summary, text) {
    return text ? el('details', {}, el('summary', { text: summary }), el('pre', { text })) : null;
  }

  // ---- predict first --------------------------------------------------------

  // "0.25", "-1.5e-2", "1/4": as the quiz reads an answer (parse_answer).
  function parseAnswer(text) {
    const s = text.replace(/^[ \t]+|[ \t\r]+$/g, '');
    const number = (p) => {
      if (p === '' || /[^0-9+\-.eE]/.test(p)) return null;
      const v = Number(p);
      return Number.isFinite(v) ? v : null;
    };
    const slash = s.indexOf('/');
    if (slash < 0) return number(s);
    const top = number(s.slice(0, slash));
    const bottom = number(s.slice(slash + 1));
    if (top === null || bottom === null || bottom === 0) return null;
    return top / bottom;
  }

  function questionOf(step) {
    const n = page.nodes[step.node];
    return step.pass === 'forward' ? n.forward_question : n.backward_question;
  }

  function predictForm(stepIndex, q, reveal) {
    const state = answers.get(stepIndex) || { tries: 0, done: false, lines: [], feedback: '', cls: '' };
    answers.set(stepIndex, state);
    const input = el('input', { class: 'answer', type: 'text', inputmode: 'decimal', autocomplete: 'off',
      'aria-label': `your answer for ${q.asked}` });
    const feedback = el('p', { class: `feedback ${state.cls}`.trim(), role: 'status', text: state.feedback });
    const hint = el('div', { class: 'hint' });
    const form = el('form', {
      class: 'predict',
      dataset: { node: run.nodes[q.node].name, kind: q.kind, slot: q.slot === null ? '' : String(q.slot),
        index: q.index.join(',') },
    }, el('p', { class: 'question', text: `Predict first: what is ${q.asked}?` }),
    el('p', {}, input, ' ', el('button', { class: 'check', type: 'submit', text: 'Check' })), feedback, hint);
    const showHint = () => {
      hint.replaceChildren(...state.lines.map((line) => el('p', { text: line })));
      if (state.worked) hint.append(...workedLines(q.worked));
      hint.hidden = state.lines.length === 0;
    };
    showHint();
    if (state.done) input.disabled = true;
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      if (state.done) return;
      const given = parseAnswer(input.value);
      if (given === null) {
        state.feedback = `'${input.value}' is not a number: type one like -0.25 or 1/4`;
        state.cls = 'wrong';
        feedback.textContent = state.feedback;
        feedback.className = 'feedback wrong';
        return;
      }
      const mistake = q.mistakes.find((m) => given >= m.low && given <= m.high);
      state.tries += 1;
      if (given >= q.low && given <= q.high) {
        state.done = true;
        state.feedback = q.right;
        state.cls = 'right';
      } else if (state.tries === 1) {
        state.feedback = 'Try once more.';
        state.cls = 'wrong';
        state.lines = mistake ? mistake.first : q.first;
      } else {
        state.done = true;
        state.feedback = mistake ? mistake.second : q.second;
        state.cls = 'wrong';
        state.lines = [];
        state.worked = true;
      }
      feedback.textContent = state.feedback;
      feedback.className = `feedback ${state.cls}`;
      showHint();
      if (state.done) {
        input.disabled = true;
        reveal();
      } else {
        input.select();
      }
    });
    return form;
  }

  // ---- the steps ------------------------------------------------------------

  function forwardPanel(i) {
    const n = run.nodes[i];
    const p = page.nodes[i];
    const parts = [note(p.note)];
    for (const q of p.intermediates) {
      const raw = n.intermediates.find((r) => r.name === q.name);
      parts.push(tensorBlock(`intermediate:${q.name}`, `${q.name}: ${q.formula}`, q.shown, raw ? raw.value : null));
    }
    const label = n.kind === 'op' ? `${n.name} ${shapeText(n.shape)}` : `${n.name} ${shapeText(n.shape)}, ${n.kind}`;
    const onPick = p.value_worked ? (k, td) => showWorked(`${n.name}, worked out`, p.value_worked[k], td) : null;
    const value = tensorBlock('value', label, p.value, n.value, onPick);
    value.append(note(p.value_zero_note) || '');
    parts.push(value);
    parts.push(textBlock('As bnstep run prints it', p.forward_text));
    return { parts, hide: [value] };
  }

  function shapeText(shape) {
    return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  }

  function backwardPanel(i) {
    const n = run.nodes[i];
    const p = page.nodes[i];
    const parts = [];
    const hide = [];
    const isOutput = n.name === run.output;
    const upstreamLabel = isOutput
      ? `upstream gradient ${n.grad_name} ${shapeText(n.shape)}: the seed (${run.loss})`
      : `upstream gradient ${n.grad_name} ${shapeText(n.shape)}`;
    const onGrad = p.grad_worked ? (k, td) => showWorked(`${n.grad_name}, the sum of its contributions`, p.grad_worked[k], td) : null;
    const grad = tensorBlock('grad', upstreamLabel, p.grad, n.grad, onGrad);
    if (p.accumulation) grad.insertBefore(el('p', { class: 'mono', text: p.accumulation }), grad.children[1] || null);
    grad.append(note(p.grad_zero_note) || '', note(p.surrogate_note) || '');
    parts.push(grad);
    for (const q of p.backward_intermediates) {
      const raw = n.backward_intermediates.find((r) => r.name === q.name);
      parts.push(tensorBlock(`intermediate:${q.name}`, `${q.name}: ${q.formula}`, q.shown, raw ? raw.value : null));
    }
    n.inputs.forEach((input, slot) => {
      const edge = p.edges[slot];
      const box = el('section', { class: 'block edge', dataset: { slot: String(slot) } },
        el('h3', {}, `to ${input.name}: `, el('span', { class: 'grad-name', text: input.gradient || 'no gradient' })),
        el('p', { class: 'local-formula', text: input.local }));
      if (!edge.flows) {
        box.append(el('p', { class: 'muted', text: input.status === 'constant'
          ? `${input.name} is a constant: it gets no gradient.`
          : `The op passes no gradient to ${input.name}.` }));
        parts.push(box);
        return;
      }
      const shown = [];
      if (edge.local) shown.push(tensorBlock(`local:${slot}`, 'local gradient', edge.local, input.local_value));
      if (edge.unreduced) {
        shown.push(tensorBlock(`unreduced:${slot}`,
          `upstream × local, before the sum over axis ${input.reduced_axes.join(', ')} (${input.name} was broadcast)`,
          edge.unreduced, edge.unreduced_raw));
      }
      const pick = edge.worked ? (k, td) => {
        showWorked(`${input.gradient}, worked out`, edge.worked[k], td);
        markFrom(edge.sources ? edge.sources[k] : null);
      } : null;
      const contribution = tensorBlock(`contribution:${slot}`, `${input.gradient}, sent to ${input.name}`,
        edge.contribution, input.contribution, pick);
      contribution.append(note(edge.zero_note) || '');
      shown.push(contribution);
      box.append(...shown);
      hide.push(...shown);
      parts.push(box);
    });
    parts.push(textBlock('As bnstep run prints it', p.backward_text));
    return { parts, hide, grad };
  }

  function render() {
    const step = steps[current];
    const n = run.nodes[step.node];
    $('pass').textContent = step.pass === 'forward' ? 'Forward:' : 'Backward:';
    $('node-name').textContent = n.name;
    $('position').textContent = step.pass === 'forward'
      ? `forward pass, step ${step.k} of ${forwardCount}`
      : `backward pass, step ${step.k} of ${backwardCount}`;
    $('formula').textContent = page.nodes[step.node].heading;
    $('back').disabled = current === 0;
    $('next').disabled = current === steps.length - 1;
    worked.hidden = true;
    $('step').append(worked);  // out of the panel before it is replaced
    const built = step.pass === 'forward' ? forwardPanel(step.node) : backwardPanel(step.node);
    const q = $('predict-first').checked ? questionOf(step) : null;
    const children = built.parts.filter((x) => x);
    if (q) {
      let hidden = built.hide;
      if (q.kind === 'upstream' && built.grad) hidden = hidden.concat([built.grad]);
      const state = answers.get(current);
      const reveal = () => { for (const h of hidden) h.hidden = false; };
      if (!state || !state.done) for (const h of hidden) h.hidden = true;
      for (const d of children) if (d.tagName === 'DETAILS' && !(state && state.done)) d.hidden = true;
      const stepIndex = current;
      const form = predictForm(stepIndex, q, () => {
        reveal();
        for (const d of panel.querySelectorAll('details')) d.hidden = false;
      });
      children.unshift(form);
    }
    panel.replaceChildren(...children);
    highlightGraph(step);
  }

  function highlightGraph(step) {
    const name = run.nodes[step.node].name;
    for (const g of document.querySelectorAll('#graph g.node, #graph g.edge')) {
      const title = g.querySelector('title');
      const t = title ? title.textContent : '';
      // Both kinds of edge are titled "input->node": the backward ones are red.
      const red = g.querySelector('[stroke="red"]') !== null;
      const on = g.classList.contains('node') ? t === name
        : t.endsWith(`->${name}`) && red === (step.pass === 'backward');
      g.classList.toggle('current', on);
    }
  }

  function fragment(i) {
    const s = steps[i];
    return `#${s.pass}-${s.k}`;
  }

  function fromFragment(hash) {
    const m = /^#(forward|backward)-([0-9]+)$/.exec(hash);
    if (!m) return 0;
    const k = Number(m[2]);
    const i = m[1] === 'forward' ? k - 1 : forwardCount + k - 1;
    const count = m[1] === 'forward' ? forwardCount : backwardCount;
    return k >= 1 && k <= count ? i : 0;
  }

  function go(i) {
    current = Math.max(0, Math.min(steps.length - 1, i));
    const hash = fragment(current);
    if (location.hash !== hash) {
      try {
        history.replaceState(null, '', hash);
      } catch (e) {
        location.hash = hash;
      }
    }
    render();
  }

  $('next').addEventListener('click', () => go(current + 1));
  $('back').addEventListener('click', () => go(current - 1));
  $('predict-first').addEventListener('change', () => render());
  window.addEventListener('hashchange', () => {
    const i = fromFragment(location.hash);
    if (i !== current || fragment(i) !== location.hash) go(i);
  });
  document.addEventListener('keydown', (ev) => {
    const t = ev.target;
    if (ev.altKey || ev.ctrlKey || ev.metaKey) return;
    if (t && (t.tagName === 'INPUT' && t.type === 'text')) return;
    if (ev.key === 'ArrowRight') {
      ev.preventDefault();
      go(current + 1);
    } else if (ev.key === 'ArrowLeft') {
      ev.preventDefault();
      go(current - 1);
    }
  });
  for (const g of document.querySelectorAll('#graph g.node')) {
    const title = g.querySelector('title');
    const i = title ? nodeIndex.get(title.textContent) : undefined;
    if (i === undefined) continue;
    g.addEventListener('click', () => {
      const pass = steps[current].pass;
      const target = steps.findIndex((s) => s.node === i && s.pass === pass);
      go(target >= 0 ? target : steps.findIndex((s) => s.node === i));
    });
  }
  go(fromFragment(location.hash));
  document.documentElement.dataset.ready = 'true';
}

// The header and the graph are painted first, the step in the task after that frame (or after 50 ms
// where frames are not drawn, in a tab in the background).
(() => {
  let started = false;
  const start = () => {
    if (!started) {
      started = true;
      main();
    }
  };
  requestAnimationFrame(() => setTimeout(start, 0));
  setTimeout(start, 50);
})();
