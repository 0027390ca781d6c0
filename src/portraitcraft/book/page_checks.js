// What a reader sees go wrong on a page of the book, measured in the browser after layout (see browser.py).
// Evaluated as one expression; resolves to a JSON string {kind: [message, ...]}. Only the article is looked at
// (not the theme's sidebars); folded content (a closed <details>) is not visible and not looked at.
(async () => {
  const MIN_FONT_PX = __MIN_FONT_PX__;
  const MIN_CONTRAST = __MIN_CONTRAST__, MIN_CONTRAST_SMALL = __MIN_CONTRAST_SMALL__;
  const found = {overlap: [], clipped: [], small_text: [], empty: [], raw_output: [], covers_data: [], duplicate: [],
                 raw_number: [], cut_text: [], environment: [], caption_label: [], on_fill: [],
                 unmatched_mark: [], low_contrast: []};
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
    holder.className = 'pc-inlined-svg';
    holder.dataset.src = src;
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

  // --- text that hardly stands out from what it is written on -----------------------------------------------------
  // WCAG 2's contrast ratio of the text's colour against its computed background: the backgrounds of the element and
  // its ancestors laid over one another (over white) down to the first opaque one. Text on a background image or a
  // gradient is not judged (its background is not one colour); SVG text neither (what lies under it is drawing).
  const rgba = (css) => {
    const m = (css || '').match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const v = m[1].split(/[\s,/]+/).filter(Boolean).map(parseFloat);
    return [v[0], v[1], v[2], v.length > 3 ? v[3] : 1];
  };
  const over = (top, under) => {  // `top` (RGBA) laid over the opaque `under`
    const a = top[3];
    return [0, 1, 2].map((i) => top[i] * a + under[i] * (1 - a)).concat([1]);
  };
  const backgroundCache = new Map();
  const backgroundOf = (el) => {  // opaque RGBA, or null where an image or gradient lies under the text
    if (!el || el.nodeType !== 1) return [255, 255, 255, 1];
    if (backgroundCache.has(el)) return backgroundCache.get(el);
    const style = getComputedStyle(el);
    let colour;
    if (style.backgroundImage && style.backgroundImage !== 'none') colour = null;
    else {
      const own = rgba(style.backgroundColor) || [0, 0, 0, 0];
      if (own[3] >= 1) colour = own;
      else {
        const under = backgroundOf(el.parentElement);
        colour = under && (own[3] > 0 ? over(own, under) : under);
      }
    }
    backgroundCache.set(el, colour);
    return colour;
  };
  const luminance = (c) => {
    const [r, g, b] = c.slice(0, 3).map((v) => { const s = v / 255; return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const hex = (c) => '#' + c.slice(0, 3).map((v) => Math.round(v).toString(16).padStart(2, '0')).join('');
  const contrastSeen = new Map();
  const judged = new Set();
  for (const b of boxes) {
    if (b.kind !== 'html' || judged.has(b.el)) continue;
    judged.add(b.el);
    const style = getComputedStyle(b.el);
    const background = backgroundOf(b.el);
    const text = rgba(style.color);
    if (!background || !text) continue;
    const ink = over(text, background);
    const [light, dark] = [luminance(ink), luminance(background)].sort((x, y) => y - x);
    const ratio = (light + 0.05) / (dark + 0.05);
    // WCAG's large text: 24 px, or 18.66 px bold; smaller text needs the higher ratio
    const large = b.px >= 24 || (b.px >= 18.66 && parseInt(style.fontWeight, 10) >= 700);
    const needed = large ? MIN_CONTRAST : MIN_CONTRAST_SMALL;
    if (ratio >= needed) continue;
    // one message per table (or piece of text): its lowest contrast, and how many other pieces fall short
    const holder = b.el.closest('table') || b.el;
    const entry = contrastSeen.get(holder);
    if (!entry) contrastSeen.set(holder, {text: b.text, ratio, ink, background, needed, n: 1, el: b.el});
    else {
      entry.n += 1;
      if (ratio < entry.ratio) Object.assign(entry, {text: b.text, ratio, ink, background, needed, el: b.el});
    }
  }
  for (const e of contrastSeen.values()) {
    found.low_contrast.push(`text "${short(e.text)}" at a contrast of ${e.ratio.toFixed(1)}:1 (under ${e.needed}:1), ` +
                            `${hex(e.ink)} on ${hex(e.background)}` +
                            (e.n > 1 ? `, and ${e.n - 1} more piece(s) of text under their minimum beside it` : '') +
                            where(e.el));
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
  // --- figures: what each figure on the page is, for the checks below ------------------------------------------------
  // A figure is a plotly div, an SVG picture (matplotlib's, put inline above) or a raster picture.
  const figures = [];
  for (const div of Array.from(root.querySelectorAll('.plotly-graph-div'))) {
    if (shown(div)) figures.push({kind: 'plotly', el: div, svg: div});
  }
  for (const holder of Array.from(root.querySelectorAll('.pc-inlined-svg'))) {
    const svg = holder.querySelector('svg');
    if (svg && shown(holder)) figures.push({kind: 'svg', el: holder, svg, src: holder.dataset.src});
  }
  for (const svg of Array.from(root.querySelectorAll('svg'))) {
    if (svg.ownerSVGElement || svg.closest('.plotly-graph-div, .pc-inlined-svg') || !shown(svg)) continue;
    const r = svg.getBoundingClientRect();
    if (r.width >= 100 && r.height >= 60) figures.push({kind: 'svg', el: svg, svg});  // not an icon
  }
  for (const img of Array.from(root.querySelectorAll('img'))) {
    const r = img.getBoundingClientRect();
    // A thumbnail (narrower than 200 px: a series' base scene in each strip) or a captioned photograph (an example
    // image inside a <figure>: the same hard image under each of two prediction files) may well be shown again.
    if (shown(img) && r.width >= 60 && r.height >= 60) {
      figures.push({kind: 'img', el: img, src: img.currentSrc || img.src, thumbnail: r.width < 200 || Boolean(img.closest('figure'))});
    }
  }
  const textsOf = (f) => f.svg ? boxes.filter((b) => b.kind === 'svg' && f.svg.contains(b.el)) : [];
  // A figure as a message names it: its number on the page, and its title (plotly's), else its first words.
  const figureName = (f) => {
    const title = f.kind === 'plotly' ? f.el.querySelector('.gtitle') : null;
    const words = textsOf(f).find((b) => /\p{L}{3}/u.test(b.text));
    const text = title ? title.textContent : words ? words.text : '';
    return `${figures.indexOf(f) + 1}` + (text ? ` ("${short(text)}")` : '');
  };

  // --- a legend or label box over the plotted marks -------------------------------------------------------------------
  // The boxes that should sit beside the data: plotly's legends and annotations, matplotlib's legends and boxed text.
  // The marks: what the traces (plotly) and the axes' artists (matplotlib) draw, less axes, ticks, grid and spines.
  // A mark is hit where its painted fill or stroke covers a point of the box (sampled on a grid), not merely its
  // bounding box, so a line that passes beside a legend is fine.
  const inset = (r, d) => ({left: r.left + d, right: r.right - d, top: r.top + d, bottom: r.bottom - d});
  const overlapRect = (a, b) => ({left: Math.max(a.left, b.left), right: Math.min(a.right, b.right),
                                  top: Math.max(a.top, b.top), bottom: Math.min(a.bottom, b.bottom)});
  const paints = (el) => {
    const s = getComputedStyle(el);
    const visible = (paint, opacity) => paint && paint !== 'none' && parseFloat(opacity) > 0 &&
      !/rgba\([^)]*,\s*0\)$/.test(paint) && paint !== 'transparent';
    return {fill: visible(s.fill, s.fillOpacity), stroke: visible(s.stroke, s.strokeOpacity) && parseFloat(s.strokeWidth) > 0,
            hidden: s.display === 'none' || s.visibility === 'hidden' || parseFloat(s.opacity) === 0};
  };
  const hits = (mark, box) => {
    const r = mark.getBoundingClientRect();
    const area = overlapRect(r, box);
    if (area.right <= area.left || area.bottom <= area.top) return false;
    if (!(mark instanceof SVGGeometryElement)) return true;  // a marker drawn with <use>: its box is its shape
    const paint = paints(mark);
    if (paint.hidden || !(paint.fill || paint.stroke)) return false;
    const m = mark.getScreenCTM();
    if (!m) return false;
    const inverse = m.inverse();
    const step = Math.max(1.5, Math.sqrt((area.right - area.left) * (area.bottom - area.top) / 600));
    for (let y = area.top + step / 2; y < area.bottom; y += step) {
      for (let x = area.left + step / 2; x < area.right; x += step) {
        const p = new DOMPoint(x, y).matrixTransform(inverse);
        if ((paint.fill && mark.isPointInFill(p)) || (paint.stroke && mark.isPointInStroke(p))) return true;
      }
    }
    return false;
  };
  // Whether a mark's painted fill covers a point of a quadrilateral (four screen points in order), on a grid of
  // about 1.5 px.
  const markRects = new Map();  // each mark's box, measured once however many labels are tested against it
  const fillUnder = (mark, quad) => {
    if (!markRects.has(mark)) markRects.set(mark, mark.getBoundingClientRect());
    const r = markRects.get(mark), q = bounds(quad);
    if (q.right <= r.left || r.right <= q.left || q.bottom <= r.top || r.bottom <= q.top) return false;
    const m = mark.getScreenCTM();
    if (!m) return false;
    const inverse = m.inverse();
    const [p0, p1, , p3] = quad;
    const nu = Math.max(2, Math.ceil(Math.hypot(p1[0] - p0[0], p1[1] - p0[1]) / 1.5));
    const nv = Math.max(2, Math.ceil(Math.hypot(p3[0] - p0[0], p3[1] - p0[1]) / 1.5));
    for (let i = 0; i <= nu; i++) {
      for (let j = 0; j <= nv; j++) {
        const u = i / nu, v = j / nv;
        const x = p0[0] + u * (p1[0] - p0[0]) + v * (p3[0] - p0[0]);
        const y = p0[1] + u * (p1[1] - p0[1]) + v * (p3[1] - p0[1]);
        if (mark.isPointInFill(new DOMPoint(x, y).matrixTransform(inverse))) return true;
      }
    }
    return false;
  };
  const nonTransparent = (rect) => rect && (paints(rect).fill || paints(rect).stroke);
  for (const f of figures) {
    if (!f.svg) continue;
    const covers = [], marks = [];
    let inside;
    if (f.kind === 'plotly') {
      for (const legend of Array.from(f.svg.querySelectorAll('g.legend'))) {
        const bg = legend.querySelector('rect.bg');
        covers.push({what: 'legend', el: legend, rect: (bg || legend).getBoundingClientRect()});
      }
      for (const note of Array.from(f.svg.querySelectorAll('g.annotation'))) {
        const bg = note.querySelector('rect.bg'), text = note.querySelector('text');
        if (!text || !text.textContent.trim()) continue;
        // A boxed label is its box; a bare one its glyphs (the text's box less the font's ascent and descent).
        const r = nonTransparent(bg) ? bg.getBoundingClientRect() : text.getBoundingClientRect();
        covers.push({what: `label "${short(text.textContent)}"`, el: note,
                     rect: nonTransparent(bg) ? r : {left: r.left + 1, right: r.right - 1,
                                                      top: r.top + r.height * 0.2, bottom: r.bottom - r.height * 0.2}});
      }
      marks.push(...f.svg.querySelectorAll('g.trace path, g.trace rect, g.trace circle, g.trace use'));
      inside = (el) => el.closest('g.legend, g.annotation');
    } else {
      const isMpl = f.svg.querySelector('g[id^="axes_"]');
      if (!isMpl) continue;
      for (const legend of Array.from(f.svg.querySelectorAll('g[id^="legend_"]'))) {
        const frame = legend.querySelector(':scope > g[id^="patch_"]');
        covers.push({what: 'legend', el: legend, rect: (frame || legend).getBoundingClientRect()});
      }
      for (const label of Array.from(f.svg.querySelectorAll('g[id^="text_"]'))) {
        const frame = label.querySelector(':scope > g[id^="patch_"]');
        if (frame && !label.closest('g[id^="legend_"]')) {
          covers.push({what: `label "${short(label.textContent)}"`, el: label, rect: frame.getBoundingClientRect()});
        }
      }
      for (const axes of Array.from(f.svg.querySelectorAll('g[id^="axes_"]'))) {
        const background = axes.querySelector(':scope > g[id^="patch_"]');
        for (const mark of Array.from(axes.querySelectorAll('path, rect, circle, ellipse, polygon, polyline, line, use'))) {
          if (mark.closest('g[id^="matplotlib.axis"], g[id^="legend_"], g[id^="text_"], defs, clipPath')) continue;
          if (background && background.contains(mark)) continue;
          const patch = mark.closest('g[id^="patch_"]');
          if (patch && patch.parentElement === axes && !paints(mark).fill) continue;  // a spine, an outline
          marks.push(mark);
        }
      }
      inside = (el) => el.closest('g[id^="legend_"]') || (el.closest('g[id^="text_"]') &&
                                                            el.closest('g[id^="text_"]').querySelector(':scope > g[id^="patch_"]'));
    }
    for (const cover of covers) {
      const box = inset(cover.rect, 1);
      if (box.right <= box.left || box.bottom <= box.top) continue;
      // A legend touching a bar reads as covering it: the marks are tested against the legend and a 2 px margin.
      const margin = cover.what === 'legend' ? inset(cover.rect, -2) : box;
      const hit = marks.find((mark) => !cover.el.contains(mark) && hits(mark, margin));
      if (hit) {
        found.covers_data.push(`the ${cover.what} of figure ${figureName(f)} lies over its plotted data${where(f.el)}`);
        continue;
      }
      if (cover.what !== 'legend') continue;
      // A legend over other text of its figure (a panel's title, an axis label).
      const text = textsOf(f).find((b) => !cover.el.contains(b.el) && !inside(b.el) &&
        !(b.bounds.right <= box.left || box.right <= b.bounds.left || b.bounds.bottom <= box.top || box.bottom <= b.bounds.top));
      if (text) found.covers_data.push(`the legend of figure ${figureName(f)} lies over "${short(text.text)}"${where(f.el)}`);
    }
    // Axis numbers and names printed on a filled area (a radar's ring numbers inside its polygon, a tick label on a
    // bar): the fill runs through the glyphs. The label's own (rotated) box, less the font's ascent and descent, is
    // sampled against each filled mark's painted area.
    const fills = marks.filter((mark) => mark instanceof SVGGeometryElement && paints(mark).fill && !paints(mark).hidden);
    const isTick = f.kind === 'plotly' ? (el) => el.closest('g[class$="tick"]')
                                       : (el) => el.closest('g[id^="xtick_"], g[id^="ytick_"]');
    const onFill = fills.length ? textsOf(f).filter((b) => isTick(b.el) && fills.some((mark) => fillUnder(mark, b.pts))) : [];
    if (onFill.length) {
      found.on_fill.push(`${onFill.length} axis label(s) of figure ${figureName(f)} sit on a filled area: ` +
                         onFill.slice(0, 4).map((b) => `"${short(b.text)}"`).join(', ') + where(f.el));
    }
  }

  // --- the same figure twice ------------------------------------------------------------------------------------------
  // The same data drawn twice (plotly), the same picture twice (file or content), or one figure number given to two
  // figures (an interactive figure and its "print" copy drawn with another library).
  const signatures = new Map();
  const remember = (key, f) => {
    if (!signatures.has(key)) signatures.set(key, []);
    signatures.get(key).push(f);
  };
  const values = (v) => (Array.isArray(v) || ArrayBuffer.isView(v)) ? Array.from(v).map(
    (row) => (Array.isArray(row) || ArrayBuffer.isView(row)) ? Array.from(row) : row) : v;
  for (const f of figures) {
    if (f.kind === 'plotly') {
      const traces = f.el._fullData || f.el.data || [];
      const data = traces.filter((t) => t.visible !== false).map((t) => [t.type, ...['x', 'y', 'z', 'r', 'theta', 'values', 'lat', 'lon'].map((k) => values(t[k]))]);
      if (data.length) remember('data:' + JSON.stringify(data), f);
    } else if (f.src && !f.thumbnail) {
      remember('picture:' + f.src, f);
    } else if (f.svg) {
      remember('svg:' + f.svg.innerHTML.replace(/\bid="[^"]*"/g, ''), f);
    }
    const numbers = new Set();
    for (const b of textsOf(f)) {
      const m = b.text.match(/^\s*(?:Figure|Fig\.)\s*(\d+\s*(?:\([a-z]\)|[a-z])?)/i);
      if (m) numbers.add(m[1].replace(/\s+/g, ''));
    }
    for (const n of numbers) remember('number:' + n, f);
  }
  const reported = new Set();
  for (const [key, group] of signatures) {
    const distinct = Array.from(new Set(group));
    if (distinct.length < 2 || distinct.every((f) => reported.has(f))) continue;
    distinct.forEach((f) => reported.add(f));
    const why = key.startsWith('number:') ? `both numbered Figure ${key.slice(7)}` :
                key.startsWith('data:') ? 'the same data' : 'the same picture';
    found.duplicate.push(`${distinct.length} figures show ${why}: ${distinct.map(figureName).join(', ')}${where(distinct[1].el)}`);
  }
  // The same note printed again on the page (a paragraph set in italics, or opening with "Note"): results may repeat
  // where two prediction files agree, a note about the data need not.
  const paragraphs = new Map();
  for (const el of Array.from(root.querySelectorAll('p'))) {
    if (el.closest('.cell_input, li, nav, .toctree-wrapper, figure, table') || !shown(el)) continue;
    const text = el.innerText.replace(/\s+/g, ' ').trim();
    const only = el.children.length === 1 ? el.firstElementChild : null;
    const italic = only && /^(EM|I)$/.test(only.tagName) && only.innerText.trim() === el.innerText.trim();
    if (text.length < 30 || !(italic || /^Note\b/i.test(text))) continue;
    if (!paragraphs.has(text)) paragraphs.set(text, []);
    paragraphs.get(text).push(el);
  }
  for (const [text, els] of paragraphs) {
    if (els.length > 1) found.duplicate.push(`the same note is shown ${els.length} times: "${short(text)}"${where(els[1])}`);
  }

  // --- numbers and times printed raw ------------------------------------------------------------------------------------
  // Floats with six or more decimals (Python's repr or pandas' default) and ISO timestamps as a program writes them,
  // in the text a reader sees (prose, tables, printed output, figure text), not in code shown as code.
  const RAW_FLOAT = /(^|[^\w.])(-?\d+\.\d{6,}(?:e[-+]?\d+)?)(?![\w.])/i;
  const RAW_TIME = /\b\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2})?|[ T]\d{2}:\d{2}:\d{2}(?:\.\d+|[+-]\d{2}:?\d{2}|Z))\S*/;
  const rawSeen = new Set();
  for (const b of boxes) {
    if (rawSeen.has(b.el)) continue;
    if (b.kind === 'html' && (b.el.closest('code, kbd') || (b.el.closest('div.highlight') && !b.el.closest('.cell_output')))) continue;
    const time = b.text.match(RAW_TIME), float = b.text.replace(new RegExp(RAW_TIME, 'g'), ' ').match(RAW_FLOAT);
    if (!float && !time) continue;
    rawSeen.add(b.el);
    if (float) found.raw_number.push(`unformatted number ${float[2]} in "${short(b.text)}"${where(b.el)}`);
    if (time) found.raw_number.push(`raw timestamp ${time[0]} in "${short(b.text)}"${where(b.el)}`);
  }

  // --- text cut without an ellipsis -------------------------------------------------------------------------------------
  // Text shortened by taking its first N characters: in a table column, two or more different cells of words that
  // stop at the same (longest) length, 30 characters or more, with no "…" to say so. (Different texts of one length
  // are rare unless something cut them there.)
  const cutSeen = new Set();
  for (const table of Array.from(root.querySelectorAll('table'))) {
    if (!shown(table)) continue;
    const rows = Array.from(table.tBodies.length ? table.tBodies[0].rows : table.rows);
    const columns = Math.max(0, ...rows.map((r) => r.cells.length));
    for (let c = 0; c < columns; c++) {
      const cells = rows.map((r) => r.cells[c]).filter(Boolean).map((cell) => cell.innerText.trim()).filter(Boolean);
      const longest = Math.max(0, ...cells.map((t) => t.length));
      if (longest < 30) continue;
      const cut = Array.from(new Set(cells.filter((t) => t.length === longest && /\s/.test(t) && /[\p{L}\p{N}]$/u.test(t))));
      if (cut.length >= 2 && !cutSeen.has(table)) {
        cutSeen.add(table);
        found.cut_text.push(`${cut.length} cells cut at ${longest} characters without "…", e.g. "${cut[0].slice(-30)}"${where(table)}`);
      }
    }
  }

  // --- captions: what they say and what they are under ----------------------------------------------------------------
  // A caption is a <figcaption>, a table's <caption>, a plotly title, or a paragraph opening with a bold
  // "Figure" / "Table" label (the book's caption helper).
  const captions = [];
  for (const el of Array.from(root.querySelectorAll('figcaption, caption, .caption, p'))) {
    if (!shown(el)) continue;
    if (el.tagName === 'P') {
      const first = el.firstElementChild;
      if (!first || !/^(STRONG|B|EM)$/.test(first.tagName) || el.innerText.trim().indexOf(first.innerText.trim()) !== 0) continue;
      if (!/^(Figure|Fig\.|Table)\b/i.test(first.innerText.trim())) continue;
    }
    captions.push(el);
  }
  for (const title of Array.from(root.querySelectorAll('.plotly-graph-div .gtitle'))) captions.push(title);
  // What installing, importing or configuring said, which belongs in a note or the log, not in what a figure shows.
  const ENVIRONMENT = /\b(not installed|pip install|conda install|apt(?:-get)? install|no module named|ModuleNotFoundError|ImportError|(?:could|can)not (?:be )?(?:import|load|download|find (?:the )?(?:model|package|module))|failed to (?:import|load|download)|install(?:ed)? (?:the )?\S+ extra|extra \[\w+\]|\[\w+\] extra|environment variable|\$[A-Z][A-Z0-9_]{2,}|offline mode|no GPU|CUDA (?:is )?not available)/i;
  for (const el of captions) {
    const text = el.textContent.replace(/\s+/g, ' ').trim();
    const m = text.match(ENVIRONMENT);
    if (m) found.environment.push(`caption says "${short(m[0])}": "${short(text)}"${where(el)}`);
  }
  // A caption labelled for one kind of thing under another: "Figure" under nothing but tables, "Table" under nothing
  // but figures (what it is under: everything shown since the previous caption of its section).
  const before = (a, b) => Boolean(a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING);
  const shownThings = [...figures.map((f) => ({el: f.el, kind: 'figure'})),
                       ...Array.from(root.querySelectorAll('table')).filter(shown).map(
                         (el) => ({el, kind: el.querySelector('img, svg, .plotly-graph-div') ? 'figure' : 'table'}))];
  const labelled = captions.filter((el) => !el.closest('.plotly-graph-div')).sort((a, b) => before(a, b) ? -1 : 1);
  const underOf = (el, k) => {
    if (el.tagName === 'CAPTION') {
      const table = el.parentElement;
      return [{el: table, kind: table.querySelector('img, svg, .plotly-graph-div') ? 'figure' : 'table'}];
    }
    if (el.tagName === 'FIGCAPTION') return shownThings.filter((t) => el.parentElement.contains(t.el));
    const previous = labelled.slice(0, k).reverse().find((c) => c.tagName === 'P' && c.closest('section') === el.closest('section'));
    return shownThings.filter((t) => before(t.el, el) && !t.el.contains(el) && t.el.closest('section') === el.closest('section') &&
                                     (!previous || before(previous, t.el)));
  };
  // What a caption's mark can be: a symbol set after a name ("Feature baseline *", "0.41†"), not a letter or digit.
  const MARK = /\b(?:marked|flagged|labelled|tagged)(?:\s+(?:with|by))?(?:\s+(?:an?|the))?\s+["'\u201c\u2018(]?([*\u2020\u2021\u00a7\u00b6#]+|[\u00b9\u00b2\u00b3\u2070-\u2079]+)(?![\w*])/;
  labelled.forEach((el, k) => {
    const caption = ['CAPTION', 'FIGCAPTION'].includes(el.tagName) || el.classList.contains('caption');
    const label = caption ? el.innerText.trim() : el.firstElementChild.innerText.trim();
    const says = /^(Figure|Fig\.)/i.test(label) ? 'figure' : /^Table/i.test(label) ? 'table' : null;
    if (!says) return;
    const under = underOf(el, k);
    if (under.length && !under.some((t) => t.kind === says)) {
      found.caption_label.push(`a ${under[0].kind} captioned "${short(label)}": "${short(el.innerText)}"${where(el)}`);
    }
    // A caption that explains a mark ("rows marked * carry a warning") under a table or figure where no row, cell
    // or label carries it: the reader looks for what is not there.
    const said = el.innerText.replace(/\s+/g, ' ');
    const mark = said.match(MARK);
    if (!mark || !under.length) return;
    const carries = (t) => {
      const figure = figures.find((f) => f.el === t.el);
      const texts = figure ? textsOf(figure).map((b) => b.text) : [t.el.innerText || ''];
      return texts.some((text) => text.includes(mark[1]));
    };
    if (!under.some(carries)) {
      found.unmatched_mark.push(`the caption explains the mark "${mark[1]}", which no row or label of its ${under[0].kind} ` +
                                `carries: "${short(said.slice(Math.max(0, mark.index - 10)))}"${where(el)}`);
    }
  });
  return JSON.stringify(found);
})()
