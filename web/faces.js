// The face picker: a photo with a numbered button over each face found, one of
// which can be selected. Used by the new search (a probe's faces) and by the
// opt-out page (the faces of the requester's photo).

import { h, fmtScore, placeBox } from './dom.js';

// faces: [{index, box: [x, y, w, h], score}] in pixels of a width × height photo.
// Options:
//   src, alt            the photo (a server URL or an object URL of a local file)
//   imageTestid         data-testid of the <img>
//   boxTestid           prefix of the buttons' data-testid: `${boxTestid}-${i}` (i = 0, 1, ...)
//   selectedTestid      data-testid of the line that says which face is selected
//   initial             position in `faces` selected at first, or null for none
//   describe(i, n)      the text of that line once face i of n is selected
//   none                its text while nothing is selected
//   onSelect(i)         called after each selection
// Returns {frame, status, select(i), selected() -> position or null, index() -> the
// server's index of the selected face or null}.
export function facePicker({
  src,
  alt,
  faces,
  width,
  height,
  imageTestid,
  boxTestid = 'face-box',
  selectedTestid,
  initial = 0,
  describe = (i, n) => `Face ${i + 1} of ${n} selected.`,
  none = 'No face selected yet.',
  onSelect,
}) {
  const list = Array.isArray(faces) ? faces : [];
  const img = h('img', { src, alt, testid: imageTestid, class: 'photo' });
  const frame = h('div', { class: 'photo-frame' }, img);
  const status = h('p', { testid: selectedTestid, 'aria-live': 'polite' }, none);
  const boxes = [];
  let selected = null;
  const indexOf = (i) => (Number.isInteger(list[i].index) ? list[i].index : i);

  const select = (i) => {
    selected = i;
    boxes.forEach((b, j) => {
      b.setAttribute('aria-pressed', j === i ? 'true' : 'false');
      b.classList.toggle('selected', j === i);
    });
    status.textContent = describe(i, list.length);
    if (onSelect) onSelect(i);
  };

  list.forEach((f, i) => {
    const b = h(
      'button',
      {
        type: 'button',
        class: 'face-box',
        testid: `${boxTestid}-${i}`,
        'data-index': String(indexOf(i)),
        'aria-label': `Face ${i + 1}${f.score !== undefined ? `, detector score ${fmtScore(f.score)}` : ''}`,
        'aria-pressed': 'false',
        onclick: () => select(i),
      },
      h('span', { class: 'face-num', 'aria-hidden': 'true' }, String(i + 1)),
    );
    placeBox(b, f.box, width, height);
    boxes.push(b);
    frame.appendChild(b);
  });
  if (list.length && initial !== null && initial >= 0 && initial < list.length) select(initial);

  return {
    frame,
    status,
    select,
    selected: () => selected,
    index: () => (selected === null ? null : indexOf(selected)),
  };
}
