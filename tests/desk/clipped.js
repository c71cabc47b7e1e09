// What a reader of a desk page cannot see: an element that hides overflowing content, a box past the
// screen's right edge, a chart label outside its chart. Each finding names the element, so that a failing
// test says where. Run by tests/scheduler/test_desk_layout.py; returns the findings.
const found = [];
const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
  (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : '') +
  ' "' + (el.textContent || '').trim().slice(0, 40) + '"';
const content = document.getElementById('content') || document.body;
for (const el of content.querySelectorAll('*')) {
  if (el.closest('svg') && el.tagName.toLowerCase() !== 'svg') continue;
  const style = getComputedStyle(el);
  if (style.display === 'none' || style.visibility === 'hidden' || el.closest('details:not([open])')) continue;
  const box = el.getBoundingClientRect();
  if (box.width <= 1 || box.height <= 1 || el.closest('.visually-hidden')) continue;
  if (box.right > window.innerWidth + 0.5) found.push('past the right edge (' + Math.round(box.right) + ' px): ' + name(el));
  const hides = ['hidden', 'clip', 'auto', 'scroll'].includes(style.overflowX);
  if (hides && el.scrollWidth > el.clientWidth + 1) found.push('clipped (' + el.scrollWidth + ' > ' + el.clientWidth + '): ' + name(el));
}
for (const svg of content.querySelectorAll('svg')) {
  const view = svg.viewBox.baseVal;
  const width = view && view.width ? view.width : svg.width.baseVal.value;
  const height = view && view.height ? view.height : svg.height.baseVal.value;
  for (const text of svg.querySelectorAll('text')) {
    const b = text.getBBox();
    if (b.x < -0.5 || b.y < -0.5 || b.x + b.width > width + 0.5 || b.y + b.height > height + 0.5)
      found.push('label outside its chart: ' + name(text) + ' at ' + [b.x, b.y, b.width, b.height].map(Math.round));
  }
}
if (document.documentElement.scrollWidth > window.innerWidth)
  found.push('the page scrolls sideways: ' + document.documentElement.scrollWidth + ' px');
return found;
