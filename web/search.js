// New search (case → photo → face → search), results grid, candidate detail.

import {
  h,
  replace,
  safeUrl,
  externalLink,
  fmtTime,
  fmtDate,
  fmtScore,
  userName,
  bandBadge,
  defaultRetentionText,
  CATEGORIES,
  categoryText,
  DECISIONS,
  decisionText,
  field,
  messageBox,
  placeBox,
} from './dom.js';
import { get, post, API } from './api.js';
import { facePicker } from './faces.js';

export const NOTICE = 'Investigative leads for human review — not identifications.';
export const LABEL = 'investigative lead — not an identification';

function notice(text) {
  return h(
    'div',
    { class: 'notice', role: 'note', testid: 'candidate-notice' },
    h('strong', null, text || NOTICE),
    ' A candidate is never proof of identity: every lead must be checked by a person, and decisions are recorded.',
  );
}

function probeImageUrl(probeId) {
  return `${API}/probes/${encodeURIComponent(probeId)}/image`;
}

// ---- new search ----

export async function pageNewSearch(ctx) {
  ctx.title('New search');
  const caseId = ctx.query.get('case');
  const probeId = ctx.query.get('probe');
  const root = h('section', { class: 'new-search' });
  replace(ctx.main, root);

  if (caseId) {
    const data = await get(`/cases/${encodeURIComponent(caseId)}`);
    if (!ctx.alive()) return;
    const probe = probeId ? (data.probes || []).find((p) => String(p.id) === String(probeId)) : null;
    renderWithCase(ctx, root, data.case, probe);
    return;
  }
  const data = await get('/cases');
  if (!ctx.alive()) return;
  renderChooseCase(ctx, root, data.cases || []);
}

function renderChooseCase(ctx, root, cases) {
  const errBox = h('div', { 'aria-live': 'polite' });
  const parts = [h('h1', { testid: 'page-title' }, 'New search'), h('p', { class: 'lead' }, 'Step 1 of 3: every search belongs to a case with a stated purpose.')];

  if (cases.length) {
    const sel = h(
      'select',
      { testid: 'case-select', id: 'case-select' },
      cases.map((c) => h('option', { value: String(c.id) }, `${c.number} — ${categoryText(c.category)}`)),
    );
    parts.push(
      h(
        'form',
        {
          class: 'card form',
          onsubmit: (ev) => {
            ev.preventDefault();
            ctx.navigate(`#/search?case=${encodeURIComponent(sel.value)}`);
          },
        },
        h('h2', null, 'Use one of your cases'),
        field('Case', sel),
        h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn', testid: 'case-use' }, 'Continue with this case')),
      ),
    );
  }

  const number = h('input', { type: 'text', required: true, maxlength: '64', testid: 'case-number', autocomplete: 'off' });
  const purpose = h('textarea', { required: true, rows: '3', maxlength: '2000', testid: 'case-purpose' });
  const category = h(
    'select',
    { required: true, testid: 'case-category' },
    h('option', { value: '' }, 'Choose a category…'),
    CATEGORIES.map(([v, t]) => h('option', { value: v }, t)),
  );
  const retention = h('input', { type: 'number', min: '0', max: '36500', step: '1', value: '0', testid: 'case-retention', inputmode: 'numeric' });
  const create = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'case-create' }, 'Open case');
  const form = h(
    'form',
    { class: 'card form', testid: 'case-new-form', novalidate: true },
    h('h2', null, cases.length ? 'Or open a new case' : 'Open a case'),
    field('Case number', number, 'As in your case management system, e.g. 2026/CID/00123.'),
    field('Purpose of the search', purpose, 'Why this search is necessary and proportionate. Auditors read this.'),
    field('Category', category),
    field('Keep probe photos for (days)', retention,
      `Probe photos and their searches are deleted this many days after upload; 0 = ${defaultRetentionText(ctx.deployment)}.`),
    errBox,
    h('div', { class: 'actions' }, create),
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    replace(errBox);
    const days = retention.value.trim() === '' ? 0 : Number(retention.value);
    const body = { number: number.value.trim(), purpose: purpose.value.trim(), category: category.value, retention_days: days };
    if (!body.number || !body.purpose || !body.category) {
      replace(errBox, messageBox('error', 'Give the case number, the purpose and a category.', 'case-error'));
      return;
    }
    if (!Number.isInteger(days) || days < 0 || days > 36500) {
      replace(errBox, messageBox('error', 'Keep probe photos for: a whole number of days, 0 to 36500.', 'case-error'));
      return;
    }
    create.disabled = true;
    try {
      const data = await post('/cases', body);
      if (!ctx.alive()) return;
      // Stay on this page without a re-render; the hash records the case for reloads.
      history.replaceState(null, '', `#/search?case=${encodeURIComponent(data.case.id)}`);
      renderWithCase(ctx, root, data.case, null);
    } catch (err) {
      replace(errBox, messageBox('error', err.message, 'case-error'));
      create.disabled = false;
    }
  });
  parts.push(form);
  replace(root, parts);
  root.querySelector('h1').focus?.();
}

function caseSummary(c) {
  return h(
    'div',
    { class: 'card case-summary', testid: 'case-summary', 'data-id': String(c.id) },
    h('p', null, h('span', { class: 'k' }, 'Case '), h('a', { href: `#/cases/${encodeURIComponent(c.id)}`, testid: 'case-summary-number' }, c.number)),
    h('p', null, h('span', { class: 'k' }, 'Category '), categoryText(c.category)),
    h('p', { class: 'purpose' }, h('span', { class: 'k' }, 'Purpose '), h('span', { testid: 'case-summary-purpose' }, c.purpose)),
  );
}

function renderWithCase(ctx, root, c, existingProbe) {
  const probeArea = h('div', { class: 'probe-area' });
  const status = h('div', { 'aria-live': 'polite', testid: 'upload-status' });
  const input = h('input', { type: 'file', accept: 'image/*', capture: 'environment', testid: 'photo-input', id: 'photo-input' });
  const upload = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'photo-upload' }, 'Upload and find faces');

  const form = h(
    'form',
    { class: 'card form', novalidate: true },
    h('h2', null, 'Step 2 of 3: the photo'),
    field('Photo (JPEG, PNG, WebP, BMP or TIFF, at most 20 MB)', input, 'On a phone this opens the camera. The photo is stored with the case.'),
    status,
    h('div', { class: 'actions' }, upload),
  );
  const doUpload = async () => {
    const file = input.files && input.files[0];
    replace(status);
    if (!file) {
      replace(status, messageBox('error', 'Choose a photo first.', 'upload-error'));
      return;
    }
    if (file.size > 20 * 1024 * 1024) {
      replace(status, messageBox('error', 'The photo is larger than 20 MB.', 'upload-error'));
      return;
    }
    const fd = new FormData();
    fd.append('photo', file, file.name || 'photo');
    upload.disabled = true;
    replace(status, messageBox('info', 'Uploading and detecting faces…'));
    try {
      const data = await post(`/cases/${encodeURIComponent(c.id)}/probes`, fd);
      if (!ctx.alive()) return;
      replace(status);
      renderProbe(ctx, probeArea, c, data.probe);
    } catch (err) {
      replace(status, messageBox('error', err.message, 'upload-error'));
    } finally {
      upload.disabled = false;
    }
  };
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    doUpload();
  });

  replace(
    root,
    h('h1', { testid: 'page-title' }, 'New search'),
    caseSummary(c),
    form,
    probeArea,
  );
  if (existingProbe) renderProbe(ctx, probeArea, c, existingProbe);
}

function renderProbe(ctx, area, c, probe) {
  const faces = Array.isArray(probe.faces) ? probe.faces : [];
  const picker = facePicker({
    src: probeImageUrl(probe.id),
    alt: `Uploaded photo, ${faces.length} face${faces.length === 1 ? '' : 's'} found`,
    imageTestid: 'probe-image',
    faces,
    width: probe.width,
    height: probe.height,
    selectedTestid: 'selected-face',
    describe: (i, n) => `Face ${i + 1} of ${n} selected${i === 0 ? ' (the largest)' : ''}.`,
  });
  const { frame } = picker;
  if (!faces.length) {
    replace(
      area,
      h(
        'div',
        { class: 'card' },
        h('h2', null, 'Step 3 of 3: the face'),
        frame,
        messageBox(
          'error',
          'No face was found in this photo. Try a sharper or closer photo where the face is at least about 20 pixels wide and looking towards the camera.',
          'no-faces',
        ),
      ),
    );
    return;
  }

  // 100: the server's limit (kMaxCandidates), the same in the CLI.
  const topK = h('input', { type: 'number', min: '1', max: '100', value: '20', testid: 'top-k', inputmode: 'numeric' });
  const err = h('div', { 'aria-live': 'polite' });
  // Which collections to search: all unless narrowed (shown when there are several).
  const collBox = h('div');
  const collChecks = [];
  get('/collections')
    .then((d) => {
      const cols = (d.collections || []).filter((c) => c && c.name);
      if (cols.length < 2 || !ctx.alive()) return;
      replace(
        collBox,
        h(
          'fieldset',
          { class: 'collections', testid: 'search-collections' },
          h('legend', null, 'Collections to search'),
          cols.map((c) => {
            const cb = h('input', { type: 'checkbox', checked: true, value: c.name, testid: 'search-collection' });
            collChecks.push(cb);
            return h(
              'label',
              { class: 'check' },
              cb,
              ` ${c.name}`,
              c.legal_basis ? h('span', { class: 'muted' }, ` — ${c.legal_basis}`) : null,
            );
          }),
        ),
      );
    })
    .catch(() => {}); // searching everything is the default anyway
  const go = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'search-submit' }, 'Search');
  const form = h(
    'form',
    { class: 'form inline-form', novalidate: true },
    collBox,
    field('Number of candidates', topK),
    err,
    h('div', { class: 'actions' }, go),
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    replace(err);
    const k = Math.max(1, Math.min(100, parseInt(topK.value, 10) || 20));
    const body = { probe_id: probe.id, face: picker.index(), top_k: k };
    const chosen = collChecks.filter((cb) => cb.checked).map((cb) => cb.value);
    if (collChecks.length && !chosen.length) {
      replace(err, messageBox('error', 'Choose at least one collection.', 'search-error'));
      return;
    }
    if (chosen.length < collChecks.length) body.collections = chosen;
    go.disabled = true;
    try {
      const data = await post('/searches', body);
      if (!ctx.alive()) return;
      ctx.navigate(`#/searches/${encodeURIComponent(data.search.id)}`);
    } catch (e) {
      replace(err, messageBox('error', e.message, 'search-error'));
      go.disabled = false;
    }
  });

  replace(
    area,
    h(
      'div',
      { class: 'card', testid: 'probe', 'data-id': String(probe.id) },
      h('h2', null, 'Step 3 of 3: the face'),
      h(
        'p',
        { testid: 'face-count' },
        `${faces.length} face${faces.length === 1 ? '' : 's'} found. Select the face to search with (tap or click its box).`,
      ),
      frame,
      picker.status,
      form,
    ),
  );
}

// ---- results ----

export async function pageResults(ctx, searchId) {
  ctx.title('Search results');
  const data = await get(`/searches/${encodeURIComponent(searchId)}`);
  if (!ctx.alive()) return;
  const s = data.search;
  const cands = Array.isArray(s.candidates) ? s.candidates : [];

  const thumbImg = h('img', { src: probeImageUrl(s.probe_id), alt: 'The probe photo with the searched face marked', class: 'photo' });
  const thumb = h('div', { class: 'photo-frame thumb', testid: 'probe-thumb' }, thumbImg);
  if (Array.isArray(s.face_box)) {
    const box = h('div', { class: 'face-box selected static', 'aria-hidden': 'true' });
    thumbImg.addEventListener('load', () => {
      if (placeBox(box, s.face_box, thumbImg.naturalWidth, thumbImg.naturalHeight)) thumb.appendChild(box);
    });
  }

  const summary = h(
    'div',
    { class: 'card search-summary', testid: 'search-summary' },
    thumb,
    h(
      'dl',
      { class: 'kv' },
      h('dt', null, 'Case'),
      h('dd', null, h('a', { href: `#/cases/${encodeURIComponent(s.case_id)}` }, s.case_number || `#${s.case_id}`)),
      h('dt', null, 'Purpose'),
      h('dd', null, s.purpose || '—'),
      h('dt', null, 'Category'),
      h('dd', null, categoryText(s.category)),
      h('dt', null, 'Searched by'),
      h('dd', null, userName(s.user)),
      h('dt', null, 'When'),
      h('dd', null, fmtTime(s.created_at)),
      h('dt', null, 'Gallery faces searched'),
      h('dd', null, s.faces_searched !== undefined ? String(s.faces_searched) : '—'),
    ),
  );

  const grid = h('ol', { class: 'grid', 'aria-label': 'Candidates' });
  for (const c of cands) grid.appendChild(h('li', null, candidateCard(ctx, s, c)));

  replace(
    ctx.main,
    h(
      'section',
      { class: 'results', testid: 'results', 'data-id': String(s.id) },
      h('h1', { testid: 'page-title' }, `Candidates for case ${s.case_number || s.case_id}`),
      notice(s.notice),
      summary,
      cands.length
        ? grid
        : messageBox('info', 'No candidates: the gallery holds no face close enough to this one, or it is empty.', 'no-candidates'),
    ),
  );
}

// An item's own legal basis (a manifest's legal_basis) when it has one, else
// its collection's, saying which.
function legalBasisText(src, coll) {
  if (src.legal_basis) return `${src.legal_basis} (this photo's)`;
  if (coll.legal_basis) return `${coll.legal_basis} (the collection's)`;
  return undefined;
}

function sourceLabel(u) {
  const safe = safeUrl(u);
  if (!safe) return undefined;
  return `Source: ${new URL(safe).hostname}`;
}

function candidateCard(ctx, s, c) {
  const href = `#/searches/${encodeURIComponent(s.id)}/candidates/${encodeURIComponent(c.face_id)}`;
  const crop = safeUrl(c.crop_url);
  const src = c.source || null;
  const srcUrl = src && (src.page_url || src.source_url);
  const card = h(
    'article',
    { class: `cand band-edge-${c.band}`, testid: 'candidate-card', 'data-face-id': String(c.face_id) },
    h(
      'a',
      { href, class: 'cand-open', testid: 'candidate-open', 'aria-label': `Candidate ${c.rank}: open details` },
      crop
        ? h('img', { src: crop, alt: `Face crop of candidate ${c.rank}`, class: 'crop', loading: 'lazy' })
        : h('div', { class: 'crop crop-missing' }, c.erased ? 'Erased' : 'No crop'),
    ),
    h(
      'div',
      { class: 'cand-body' },
      h(
        'p',
        { class: 'cand-head' },
        h('span', { class: 'rank', testid: 'candidate-rank' }, `#${c.rank}`),
        h('span', { class: 'score', testid: 'candidate-score', title: 'Cosine similarity' }, fmtScore(c.score)),
      ),
      bandBadge(c.band),
      h('p', { class: 'coll', testid: 'candidate-collection' }, (c.collection && c.collection.name) || (c.erased ? 'Erased from the gallery' : '—')),
      h('p', { class: 'src' }, srcUrl ? externalLink(srcUrl, sourceLabel(srcUrl), 'candidate-source') : h('span', { class: 'muted', testid: 'candidate-source' }, 'No source recorded')),
      h('p', { class: 'label', testid: 'candidate-label' }, c.label || LABEL),
      c.decision ? h('p', { class: 'decided', testid: 'candidate-decision' }, `Decision: ${decisionText(c.decision.decision)}`) : null,
    ),
  );
  // The whole card opens the detail, except its own links.
  card.addEventListener('click', (ev) => {
    if (ev.target.closest('a')) return;
    ctx.navigate(href);
  });
  return card;
}

// ---- candidate detail ----

export async function pageCandidate(ctx, searchId, faceId) {
  ctx.title('Candidate');
  const data = await get(`/searches/${encodeURIComponent(searchId)}/candidates/${encodeURIComponent(faceId)}`);
  if (!ctx.alive()) return;
  const c = data.candidate;
  const src = c.source || {};
  const coll = c.collection || {};
  const image = c.image || {};

  const full = safeUrl(c.image_url);
  const frame = h('div', { class: 'photo-frame' });
  if (full) {
    const img = h('img', { src: full, alt: `Gallery image of candidate ${c.rank}, face marked`, class: 'photo', testid: 'candidate-image' });
    frame.appendChild(img);
    const box = h('div', { class: 'face-box selected static', testid: 'candidate-face-box', 'aria-hidden': 'true' });
    const place = (w, hh) => placeBox(box, c.face_box, w, hh) && frame.appendChild(box);
    if (!(image.width > 0 && image.height > 0 && place(image.width, image.height))) {
      img.addEventListener('load', () => place(img.naturalWidth, img.naturalHeight));
    }
  }

  const row = (label, value, testid) => [h('dt', null, label), h('dd', { testid }, value === undefined || value === null || value === '' ? '—' : value)];
  const prov = h(
    'dl',
    { class: 'kv', testid: 'provenance' },
    row('Collection', coll.name, 'prov-collection'),
    row('Legal basis', legalBasisText(src, coll), 'prov-legal-basis'),
    row('Source URL', src.source_url ? externalLink(src.source_url) : null, 'prov-source-url'),
    row('Page URL', src.page_url ? externalLink(src.page_url) : null, 'prov-page-url'),
    row('Title', src.title, 'prov-title'),
    row('Captured', src.captured_at ? fmtDate(src.captured_at) : null, 'prov-captured'),
    row('Published', src.published_at ? fmtDate(src.published_at) : null, 'prov-published'),
    row('Original file name', image.original_name, 'prov-original-name'),
    row('Ingested', image.ingested_at ? fmtTime(image.ingested_at) : null, 'prov-ingested'),
    row('Image', image.id !== undefined ? `#${image.id}${image.width ? ` (${image.width} × ${image.height} px)` : ''}` : null),
    row('Face', `#${c.face_id}`),
  );

  const current = h('div', { testid: 'decision-current', 'aria-live': 'polite' });
  const showDecision = (d) => {
    if (!d) {
      replace(current, h('p', { class: 'muted' }, 'No decision recorded yet.'));
      return;
    }
    replace(
      current,
      h(
        'p',
        { class: 'decided' },
        h('strong', null, decisionText(d.decision)),
        ` — by ${userName(d.user)}, ${fmtTime(d.at || d.created_at)}`,
      ),
      d.note ? h('blockquote', { class: 'note' }, d.note) : null,
    );
  };
  showDecision(c.decision);

  const decisionPanel = h('section', { class: 'card', 'aria-labelledby': 'dec-h' }, h('h2', { id: 'dec-h' }, 'Decision'), current);
  if (ctx.user.role === 'investigator') {
    const sel = h(
      'select',
      { required: true, testid: 'decision-select' },
      h('option', { value: '' }, 'Choose…'),
      DECISIONS.map(([v, t]) => h('option', { value: v, selected: c.decision && c.decision.decision === v }, t)),
    );
    const note = h('textarea', { rows: '3', maxlength: '2000', testid: 'decision-note' });
    if (c.decision && c.decision.note) note.value = c.decision.note;
    const status = h('div', { 'aria-live': 'polite' });
    const submit = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'decision-submit' }, 'Record decision');
    const form = h(
      'form',
      { class: 'form', testid: 'decision-form', novalidate: true },
      field('Your assessment of this lead', sel),
      field('Note (reasons, further checks made)', note),
      status,
      h('div', { class: 'actions' }, submit),
    );
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      replace(status);
      if (!sel.value) {
        replace(status, messageBox('error', 'Choose a decision.', 'decision-error'));
        return;
      }
      submit.disabled = true;
      try {
        const res = await post(`/searches/${encodeURIComponent(searchId)}/decisions`, {
          face_id: c.face_id,
          decision: sel.value,
          note: note.value,
        });
        if (!ctx.alive()) return;
        const d = res.decision || { decision: sel.value, note: note.value };
        showDecision({ user: d.user || ctx.user.username, at: d.at || d.created_at, ...d });
        replace(status, messageBox('ok', 'Decision recorded.', 'decision-saved'));
      } catch (e) {
        replace(status, messageBox('error', e.message, 'decision-error'));
      } finally {
        submit.disabled = false;
      }
    });
    decisionPanel.appendChild(form);
  }

  replace(
    ctx.main,
    h(
      'section',
      { class: 'candidate', testid: 'candidate-detail', 'data-face-id': String(c.face_id) },
      h('p', null, h('a', { href: `#/searches/${encodeURIComponent(searchId)}`, testid: 'back-to-results' }, '← Back to all candidates')),
      h('h1', { testid: 'page-title' }, `Candidate #${c.rank}`),
      notice(),
      c.erased
        ? messageBox('info', 'This face has since been erased from the gallery: its image and provenance are gone; the search record and any decision remain.', 'candidate-erased')
        : null,
      h(
        'div',
        { class: 'cand-detail' },
        h(
          'div',
          { class: 'card' },
          frame,
          h(
            'p',
            { class: 'cand-head' },
            h('span', { class: 'score', testid: 'candidate-score' }, `Score ${fmtScore(c.score)}`),
            ' ',
            bandBadge(c.band),
          ),
          h('p', { class: 'label', testid: 'candidate-label' }, c.label || LABEL),
        ),
        h('section', { class: 'card', 'aria-labelledby': 'prov-h' }, h('h2', { id: 'prov-h' }, 'Provenance'), prov),
        decisionPanel,
      ),
    ),
  );
}

