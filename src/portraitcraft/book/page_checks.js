// What a reader sees go wrong on a page of the book, measured in the browser after layout (see browser.py).
// Evaluated as one expression; resolves to a JSON string {kind: [message, ...]}. Only the article is looked at
// (not the theme's sidebars); folded content (a closed <details>) is not visible and not looked at.
(async () => {
  const MIN_FONT_PX = __MIN_FONT_PX__;
  const found = {overlap: [], clipped: [], small_text: [], empty: [], raw_output: []};
  const root = document.querySelector('article') || document.querySelector('main') || document.body;

  const short = (text) => {
    const flat = (text || '').replace(/\s+/g, ' ').trim();
    return flat.length > 40 ? flat.slice(0, 39) + '…' : flat;
  };
  const shown = (el) => el && el.isConnected && el.checkVisibility({opacityProperty: true, visibilityProperty: true});
  const where = (el) => {
    const section = el.closest && el.closest('section');
    const heading = section && section.querySelector('h1, h2, h3, h4');
    return heading ? ` (under "${short(heading.textContent.replace(/#$/, ''))}")` : '';
  };

  // Pictures drawn as SVG files (matplotlib's SVG output, shown through <img>) are put inline at the size they are
  // shown, so that their text is text the page can measure. The screenshot was taken before.
  for (const img of Array.from(root.querySelectorAll('img'))) {
    const src = img.currentSrc || img.src || '';
    if (!/\.svg([?#]|$)/i.test(src) && !src.startsWith('data:image/svg')) continue;
    const box = img.getBoundingClientRect();
    if (!box.width || !shown(img)) continue;
    let text;
    try { text = await (await fetch(src)).text(); } catch (e) { continue; }
    const holder = document.createElement('span');
    holder.style.display = 'inline-block';
    holder.style.width = `${box.width}px`;
    holder.style.height = `${box.height}px`;
    holder.innerHTML = text.replace(/<\?xml[^>]*>/, '').replace(/<!DOCTYPE[^>]*>/i, '');
    const svg = holder.querySelector('svg');
    if (!svg) continue;
    if (!svg.getAttribute('viewBox') && svg.width.baseVal && svg.height.baseVal) {
      svg.setAttribute('viewBox', `0 0 ${svg.width.baseVal.value} ${svg.height.baseVal.value}`);
    }
    svg.setAttribute('width', box.width);
    svg.setAttribute('height', box.height);
    img.replaceWith(holder);
  }

  // --- every piece of visible text, as a box (a quadrilateral on the screen, for rotated SVG text) ---------------
  const boxes = [];
  const rectCorners = (r) => [[r.left, r.top], [r.right, r.top], [r.right, r.bottom], [r.left, r.bottom]];
  for (const text of Array.from(root.querySelectorAll('svg text'))) {
    const content = text.textContent.trim();
    if (!content || !shown(text)) continue;
    let bb, m;
    try { bb = text.getBBox(); m = text.getScreenCTM(); } catch (e) { continue; }
    if (!m || bb.width <= 0 || bb.height <= 0) continue;
    const scale = Math.hypot(m.a, m.b);
    const px = parseFloat(getComputedStyle(text).fontSize) * scale;
    // The box of a text line runs from the font's ascent to its descent; the glyphs fill less. Inset it so that
    // lines set close together are not taken for overlapping.
    const dy = bb.height * 0.18, dx = Math.min(1, bb.width * 0.05);
    const pts = [[bb.x + dx, bb.y + dy], [bb.x + bb.width - dx, bb.y + dy], [bb.x + bb.width - dx, bb.y + bb.height - dy],
                 [bb.x + dx, bb.y + bb.height - dy]].map(([x, y]) => [m.a * x + m.c * y + m.e, m.b * x + m.d * y + m.f]);
    const full = [[bb.x, bb.y], [bb.x + bb.width, bb.y], [bb.x + bb.width, bb.y + bb.height], [bb.x, bb.y + bb.height]]
      .map(([x, y]) => [m.a * x + m.c * y + m.e, m.b * x + m.d * y + m.f]);
    let outer = text.ownerSVGElement;
    while (outer && outer.ownerSVGElement) outer = outer.ownerSVGElement;
    const group = text.closest('.plotly-graph-div') || outer;
    boxes.push({kind: 'svg', el: text, text: content, px, pts, full, group, outer});
  }
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const parentShown = new Map();
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.textContent.trim()) continue;
    const parent = node.parentElement;
    if (!parent || parent.closest('svg, script, style, noscript, .cell_input, .modebar-container')) continue;
    if (!parentShown.has(parent)) parentShown.set(parent, shown(parent));
    if (!parentShown.get(parent)) continue;
    const px = parseFloat(getComputedStyle(parent).fontSize);
    const range = document.createRange();
    range.selectNodeContents(node);
    for (const r of Array.from(range.getClientRects())) {
      if (r.width < 1 || r.height < 1) continue;
      const inset = r.height * 0.2;
      const pts = rectCorners({left: r.left + 0.5, right: r.right - 0.5, top: r.top + inset, bottom: r.bottom - inset});
      boxes.push({kind: 'html', el: parent, text: node.textContent.trim(), px, pts, full: rectCorners(r), group: null});
    }
  }

  // --- text smaller than a reader can read -------------------------------------------------------------------------
  const small = new Map();
  for (const b of boxes) {
    if (b.px >= MIN_FONT_PX - 0.05) continue;
    const key = b.kind === 'svg' ? b.group : b.el;
    if (!small.has(key)) small.set(key, {px: b.px, n: 0, text: b.text, el: b.el});
    const entry = small.get(key);
    entry.n += 1;
    if (b.px < entry.px) Object.assign(entry, {px: b.px, text: b.text, el: b.el});
  }
  for (const entry of small.values()) {
    found.small_text.push(`${entry.px.toFixed(1)} px text "${short(entry.text)}"` +
                          (entry.n > 1 ? ` and ${entry.n - 1} more piece(s) of text beside it` : '') + where(entry.el));
  }

  // --- overlapping text (separating axis test on the boxes) --------------------------------------------------------
  const bounds = (pts) => {
    const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
    return {left: Math.min(...xs), right: Math.max(...xs), top: Math.min(...ys), bottom: Math.max(...ys)};
  };
  const project = (pts, ax) => {
    const v = pts.map((p) => p[0] * ax[0] + p[1] * ax[1]);
    return [Math.min(...v), Math.max(...v)];
  };
  const intersect = (a, b) => {
    for (const pts of [a, b]) {
      for (let i = 0; i < 4; i++) {
        const p = pts[i], q = pts[(i + 1) % 4];
        const ax = [-(q[1] - p[1]), q[0] - p[0]];
        const [a0, a1] = project(a, ax), [b0, b1] = project(b, ax);
        if (a1 <= b0 || b1 <= a0) return false;
      }
    }
    return true;
  };
  for (const b of boxes) b.bounds = bounds(b.pts);
  const sorted = boxes.slice().sort((a, b) => a.bounds.top - b.bounds.top);
  const pairs = new Set();
  for (let i = 0; i < sorted.length; i++) {
    const a = sorted[i];
    for (let j = i + 1; j < sorted.length && sorted[j].bounds.top < a.bounds.bottom; j++) {
      const b = sorted[j];
      if (a.kind !== b.kind || a.el === b.el || a.group !== b.group) continue;
      if (a.bounds.right <= b.bounds.left || b.bounds.right <= a.bounds.left) continue;
      if (a.kind === 'html' && (a.el.contains(b.el) || b.el.contains(a.el))) continue;
      if (!intersect(a.pts, b.pts)) continue;
      const key = `${short(a.text)}|${short(b.text)}`;
      if (pairs.has(key)) continue;
      pairs.add(key);
      found.overlap.push(`"${short(a.text)}" overlaps "${short(b.text)}"${where(a.el)}`);
    }
  }
  // A plotly toolbar left showing over the figure's text.
  for (const bar of Array.from(root.querySelectorAll('.plotly-graph-div .modebar'))) {
    const icons = bar.querySelector('.modebar-group');  // hidden (opacity 0) until the pointer is over the figure
    if (!icons || !shown(icons)) continue;
    const r = bar.getBoundingClientRect();
    const figure = bar.closest('.plotly-graph-div');
    const covered = boxes.find((b) => b.group === figure && !(b.bounds.right <= r.left || r.right <= b.bounds.left ||
                                                             b.bounds.bottom <= r.top || r.bottom <= b.bounds.top));
    if (covered) found.overlap.push(`the plotly toolbar covers "${short(covered.text)}"${where(figure)}`);
  }

  // --- content cut off -------------------------------------------------------------------------------------------------
  for (const b of boxes) {
    if (b.kind !== 'svg' || !b.outer) continue;
    const r = b.outer.getBoundingClientRect(), t = bounds(b.full);
    const out = Math.max(r.left - t.left, t.right - r.right, r.top - t.top, t.bottom - r.bottom);
    if (out > 2) found.clipped.push(`text "${short(b.text)}" runs ${Math.round(out)} px outside its figure${where(b.el)}`);
  }
  for (const el of Array.from(root.querySelectorAll('*'))) {
    if (el.closest('svg, .cell_input, .modebar-container')) continue;
    // A code listing in the prose (a command, a docstring's example) scrolls sideways as code does everywhere; what
    // a chapter printed must fit the column.
    if (el.closest('div.highlight') && !el.closest('.cell_output')) continue;
    const style = getComputedStyle(el);
    const cutX = style.overflowX !== 'visible' && el.scrollWidth > el.clientWidth + 2;
    const cutY = ['hidden', 'clip'].includes(style.overflowY) && el.scrollHeight > el.clientHeight + 2;
    if (!(cutX || cutY) || !shown(el)) continue;
    // Only the innermost box that cuts: an outer one that cuts the same content adds nothing.
    const what = el.querySelector('table') ? 'a table' : el.querySelector('pre') || el.tagName === 'PRE' ? 'text' : 'content';
    const hidden = cutX ? `${el.scrollWidth - el.clientWidth} px of ${what} wider than its ${el.clientWidth} px box`
                        : `${el.scrollHeight - el.clientHeight} px of ${what} below its ${el.clientHeight} px box`;
    found.clipped.push(`${hidden} (${style.overflowX === 'auto' || style.overflowX === 'scroll' ? 'scrolls sideways' : 'cut off'}): ` +
                       `"${short(el.innerText)}"${where(el)}`);
  }

  // --- empty output: sections with nothing shown, figures with no data, tables with no rows ------------------------
  const hasContent = (el) => {
    if (!shown(el)) return false;
    if (el.matches('img, svg, canvas, table, .plotly-graph-div') || el.querySelector('img, svg, canvas, table, .plotly-graph-div')) return true;
    return el.innerText.trim().length > 0;
  };
  for (const section of Array.from(root.querySelectorAll('section'))) {
    let own = false, sub = false;
    for (const child of Array.from(section.children)) {
      if (/^H[1-6]$/.test(child.tagName)) continue;
      if (child.tagName === 'SECTION') { sub = true; continue; }
      if (child.classList.contains('cell')) {
        own = own || Array.from(child.querySelectorAll('.cell_output')).some(hasContent) ||
              Array.from(child.querySelectorAll('.cell_input')).some(shown);
      } else {
        own = own || hasContent(child);
      }
    }
    if (!own && !sub) {
      const heading = section.querySelector('h1, h2, h3, h4, h5, h6');
      found.empty.push(`section "${short(heading ? heading.textContent.replace(/#$/, '') : section.id)}" shows nothing`);
    }
  }
  for (const figure of Array.from(root.querySelectorAll('.plotly-graph-div'))) {
    // The traces as plotly.js holds them once drawn (typed arrays decoded from plotly's base64 'bdata').
    const traces = figure._fullData || figure.data || [];
    const values = (v) => (Array.isArray(v) || ArrayBuffer.isView(v)) ? Array.from(v).flatMap(
      (row) => (Array.isArray(row) || ArrayBuffer.isView(row)) ? Array.from(row) : [row]) : [];
    const points = traces.some((t) => ['x', 'y', 'z', 'values', 'r', 'lat', 'a'].some(
      (k) => values(t[k]).some((x) => x !== null && x !== undefined && !(typeof x === 'number' && Number.isNaN(x)))));
    if (!points) found.empty.push(`figure "${short((figure.layout && figure.layout.title && figure.layout.title.text) || figure.id)}" has no data${where(figure)}`);
  }
  for (const table of Array.from(root.querySelectorAll('table'))) {
    if (!shown(table)) continue;
    const body = table.tBodies.length ? Array.from(table.tBodies).flatMap((b) => Array.from(b.rows)) : Array.from(table.rows).slice(1);
    if (!body.length) found.empty.push(`a table with no rows: "${short(table.textContent)}"${where(table)}`);
  }

  // --- raw program output a reader should not see -------------------------------------------------------------------
  const RAW = /Traceback \(most recent call last\)|\b[A-Z]\w*(Warning|Error|Exception):|\[IPKernelApp\]|KeyboardInterrupt/;
  for (const el of Array.from(root.querySelectorAll('.cell_output .stderr, .cell_output .traceback, .cell_output .error'))) {
    if (shown(el) && el.innerText.trim()) found.raw_output.push(`stderr/traceback output: "${short(el.innerText)}"${where(el)}`);
  }
  for (const el of Array.from(root.querySelectorAll('.cell_output pre'))) {
    if (!shown(el) || el.closest('.stderr, .traceback, .error')) continue;
    const match = el.innerText.match(RAW);
    if (match) {
      const line = el.innerText.split('\n').find((l) => RAW.test(l)) || match[0];
      found.raw_output.push(`printed "${short(line)}"${where(el)}`);
    }
  }
  return JSON.stringify(found);
})()
