// The administrator's opt-out page: record a person's request to be kept out of
// the gallery (a photo of them, used once to find their face), see what each
// request removed, withdraw one.

import { h, replace, fmtTime, messageBox, table, field } from './dom.js';
import { get, post } from './api.js';
import { facePicker } from './faces.js';

const STATUS_TEXT = {
  pending: 'Pending',
  done: 'Done',
};

const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

// On narrow screens the rows become stacked blocks (app.css), so "Withdraw" stays in sight.
function stacked(wrap) {
  wrap.classList.add('stacked');
  return wrap;
}

// A message for a refused opt-out, by the error's code (or status).
function refusalText(err) {
  if (err.code === 'no_face') {
    return 'No face was found in this photo. Ask the requester for a photo where their face is clear, well lit and looking towards the camera.';
  }
  if (err.code === 'bad_image') {
    return `This file could not be read as a photo (JPEG, PNG, WebP, BMP or TIFF): ${err.message}`;
  }
  if (err.status === 413 || err.code === 'too_large') {
    return `The photo is too large (${err.message}). Use a smaller or more compressed copy.`;
  }
  if (err.code === 'bad_request') return `The request was not accepted: ${err.message}`;
  return err.message;
}

export async function pageOptOuts(ctx) {
  ctx.title('Opt-outs');
  const listBox = h(
    'section',
    { class: 'optout-list', testid: 'optout-list', 'aria-labelledby': 'ol-h' },
    h('h2', { id: 'ol-h' }, 'Opt-out requests'),
    h('p', { class: 'loading', role: 'status' }, 'Loading…'),
  );
  const listStatus = h('div', { 'aria-live': 'polite' });

  replace(
    ctx.main,
    h(
      'section',
      { class: 'optouts', testid: 'optouts' },
      h('h1', { testid: 'page-title' }, 'Opt-out requests'),
      h(
        'p',
        { class: 'lead' },
        'A person may ask to be kept out of the gallery. Record the request here with a photo of them: ',
        'the photo is used once, to find their face and remove the gallery faces that match it. ',
        'Matching faces are then kept out of every future ingest and every search result. ',
        'The photo itself is not stored; only the face descriptor is kept, in the opt-out list.',
      ),
      newOptOutForm(ctx, (message) => load(message)),
      listStatus,
      listBox,
    ),
  );

  // Reloads the list; `message` (a node) is shown above it.
  async function load(message) {
    replace(listStatus, message || null);
    let data;
    try {
      data = await get('/optouts');
    } catch (e) {
      if (ctx.alive()) replace(listBox, listBox.firstChild, messageBox('error', e.message, 'optout-list-error'));
      return;
    }
    if (!ctx.alive()) return;
    const entries = data.optouts || [];
    replace(
      listBox,
      listBox.firstChild,
      entries.length
        ? stacked(
            table(
              'Opt-out requests',
              ['Request', 'Note', 'Status', 'Faces removed', 'Images removed', 'Created by', 'Created', 'Completed', ''],
              entries.map((e) => optOutRow(e, load)),
            ),
          )
        : messageBox('info', 'No opt-out requests.', 'optout-none'),
    );
  }

  await load();
}

function newOptOutForm(ctx, reload) {
  const requestId = h('input', { type: 'text', required: true, maxlength: '200', autocomplete: 'off', testid: 'optout-request-id' });
  const note = h('textarea', { rows: '2', maxlength: '2000', testid: 'optout-note' });
  const photo = h('input', { type: 'file', accept: 'image/*', testid: 'optout-photo' });
  const status = h('div', { 'aria-live': 'polite' });
  const pickArea = h('div');
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'optout-submit' }, 'Find the face and opt out');

  const form = h(
    'form',
    { class: 'card form optout-form', testid: 'optout-form', novalidate: true },
    h('h2', null, 'New opt-out'),
    field('Request reference', requestId, 'Your reference of the request, e.g. its ticket or letter number (at most 200 characters).'),
    field('Note (optional)', note, 'How the request arrived, how the identity was checked.'),
    field(
      'Photo of the requester (JPEG, PNG, WebP, BMP or TIFF)',
      photo,
      'Used once to find the face, then discarded: the photo is not stored.',
    ),
    // Said before, not after: the removal cannot be undone (issue 13 #6).
    h(
      'p',
      { class: 'msg msg-info', testid: 'optout-irreversible' },
      'Every gallery face that matches is deleted for good, with its photo when no other face remains. Withdrawing the opt-out later lets such photos be ingested again; it does not bring back what was deleted.',
    ),
    status,
    h('div', { class: 'actions' }, submit),
    pickArea,
  );

  // The photo shown in the picker: an object URL of the local file (the server keeps nothing).
  let objectUrl = '';
  const dropPicker = () => {
    replace(pickArea);
    if (objectUrl) URL.revokeObjectURL(objectUrl);
    objectUrl = '';
  };
  photo.addEventListener('change', () => {
    dropPicker();
    replace(status);
  });

  const error = (text, code) => {
    const box = messageBox('error', text, 'optout-error');
    if (code) box.dataset.code = code;
    return box;
  };

  // Sends the request; `face` is the chosen face's index after a 409, else undefined.
  const send = async (fields, face, buttons) => {
    const fd = new FormData();
    fd.append('photo', fields.file, fields.file.name || 'photo');
    fd.append('request_id', fields.requestId);
    if (fields.note) fd.append('note', fields.note);
    if (face !== undefined) fd.append('face', String(face));
    buttons.forEach((b) => (b.disabled = true));
    replace(status, messageBox('info', 'Finding the face…'));
    try {
      const data = await post('/optouts', fd);
      if (!ctx.alive()) return;
      dropPicker();
      replace(status);
      form.reset();
      const result = resultBox(ctx, data, () => reload(result));
      reload(result);
    } catch (err) {
      if (!ctx.alive()) return;
      if (err.code === 'choose_face' && face === undefined && Array.isArray(err.body.faces) && err.body.faces.length) {
        replace(status);
        showPicker(fields, err.body);
      } else {
        replace(status, error(refusalText(err), err.code));
      }
    } finally {
      buttons.forEach((b) => (b.disabled = false));
    }
  };

  const showPicker = (fields, body) => {
    dropPicker();
    objectUrl = URL.createObjectURL(fields.file);
    const faces = body.faces;
    const confirm = h('button', { type: 'button', class: 'btn btn-primary', testid: 'optout-face-submit' }, 'Opt out the selected face');
    const cancel = h('button', { type: 'button', class: 'btn btn-quiet', testid: 'optout-face-cancel' }, 'Cancel');
    const pickStatus = h('div', { 'aria-live': 'polite' });
    const picker = facePicker({
      src: objectUrl,
      alt: `The requester's photo, ${faces.length} faces found`,
      imageTestid: 'optout-image',
      boxTestid: 'optout-face-box',
      selectedTestid: 'optout-selected-face',
      faces,
      width: body.width,
      height: body.height,
      initial: null,
      describe: (i, n) => `Face ${i + 1} of ${n} selected.`,
      none: 'No face selected yet.',
      onSelect: () => replace(pickStatus),
    });
    confirm.addEventListener('click', () => {
      const face = picker.index();
      if (face === null) {
        replace(pickStatus, messageBox('error', 'Select the requester\'s face first (click or tap its box).', 'optout-face-error'));
        return;
      }
      // the same photo (choosing another one closes the picker), the reference and note as they are now
      const now = { file: fields.file, requestId: requestId.value.trim(), note: note.value.trim() };
      if (!now.requestId) {
        replace(pickStatus, messageBox('error', 'Give the request\'s reference.', 'optout-face-error'));
        requestId.focus();
        return;
      }
      replace(pickStatus);
      send(now, face, [confirm, cancel, submit]);
    });
    cancel.addEventListener('click', dropPicker);
    replace(
      pickArea,
      h(
        'div',
        { class: 'optout-picker', testid: 'optout-picker' },
        h('h3', null, 'Which face is the requester\'s?'),
        h(
          'p',
          { testid: 'optout-face-count' },
          `This photo shows ${faces.length} faces. Ask the requester which one is theirs, select it (click or tap its box), then confirm. Only that face is opted out.`,
        ),
        picker.frame,
        picker.status,
        pickStatus,
        h('div', { class: 'actions' }, confirm, cancel),
      ),
    );
  };

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    dropPicker();
    const file = photo.files && photo.files[0];
    const fields = { file, requestId: requestId.value.trim(), note: note.value.trim() };
    if (!fields.requestId) {
      replace(status, error('Give the request\'s reference.'));
      requestId.focus();
      return;
    }
    if (!file) {
      replace(status, error('Choose a photo of the requester.'));
      return;
    }
    send(fields, undefined, [submit]);
  });
  return form;
}

// What the removal job is doing, in words a person reads.
function jobText(ref, job) {
  const p = job.progress || {};
  const faces = Number(p.faces_removed) || 0;
  const images = Number(p.images_removed) || 0;
  const total = Number(p.faces_total) || 0;
  const scanned = Number(p.faces_scanned) || 0;
  const hidden = 'The matching faces are already kept out of search results.';
  switch (job.state) {
    case 'queued':
      return ['info', `${ref} ${hidden} Removing them from the gallery starts shortly…`];
    case 'running': {
      const phase = {
        scanning: `comparing the gallery's ${total} faces with the requester's face`,
        removing: 'removing the matching faces',
        compacting: 'reclaiming the space of the removed faces',
        recording: 'writing the audit record',
        recorded: 'finishing',
        done: 'finishing',
      }[job.phase] || 'starting';
      return ['info', `${ref} ${hidden} Removing them from the gallery: ${phase} (${scanned} of ${total} faces scanned, ${plural(faces, 'face', 'faces')} removed)…`];
    }
    case 'done': {
      const whole = images > 0 ? ` ${plural(images, 'image was', 'images were')} erased whole, as every face in them matched.` : '';
      return ['ok', `${ref} Removed ${plural(faces, 'face', 'faces')} from the gallery.${whole} The photo was not stored.`];
    }
    case 'deferred':
    case 'stopped':
      return ['info', `${ref} ${hidden} Pending: ${job.message || 'the removal did not run'}. The photo was not stored.`];
    default:
      return ['error', `${ref} ${hidden} ${job.message || 'The removal failed.'}`];
  }
}

// The answer of POST /optouts (202: the entry and its removal job), kept up
// to date by polling the job until it has ended; `onEnd` then reloads the list.
function resultBox(ctx, data, onEnd) {
  const e = data.optout || {};
  const ref = e.request_id ? `Opt-out recorded for request ${e.request_id}.` : 'Opt-out recorded.';
  const box = h('div', { testid: 'optout-result', 'aria-live': 'polite' });
  const show = (job) => {
    box.dataset.state = job.state || '';
    box.dataset.pending = job.state === 'done' ? 'false' : 'true';
    if (job.state === 'done') box.dataset.facesRemoved = String(Number((job.progress || {}).faces_removed) || 0);
    const [kind, text] = jobText(ref, job);
    replace(box, messageBox(kind, text, 'optout-job-progress'));
  };
  const job = data.job || { state: 'failed', message: 'The server started no removal job.' };
  show(job);
  const poll = async () => {
    if (!ctx.alive()) return;
    let latest;
    try {
      latest = (await get(`/jobs/${job.id}`)).job;
    } catch (err) {
      if (ctx.alive()) show({ state: 'failed', message: `The removal's progress could not be read: ${err.message}` });
      return;
    }
    if (!ctx.alive()) return;
    show(latest);
    if (latest.state === 'queued' || latest.state === 'running') setTimeout(poll, 500);
    else onEnd();
  };
  if (job.id !== undefined) setTimeout(poll, 200);
  return box;
}

// One opt-out; "Withdraw" opens a form in a row of its own under it, for the reason.
function optOutRow(e, reload) {
  const num = (v) => (v === undefined || v === null ? '—' : String(v));
  const withdrawButton = h(
    'button',
    { type: 'button', class: 'btn btn-small', testid: 'optout-withdraw', 'aria-expanded': 'false' },
    'Withdraw',
  );
  const tr = h(
    'tr',
    { testid: 'optout-row', 'data-id': String(e.id), 'data-status': e.status || '' },
    h('td', { class: 'optout-text', testid: 'optout-request', 'data-label': 'Request' }, e.request_id || '—'),
    h('td', { class: 'optout-text', 'data-label': 'Note' }, e.note || '—'),
    h('td', { testid: 'optout-status', 'data-label': 'Status' }, STATUS_TEXT[e.status] || String(e.status || '—')),
    h('td', { class: 'num', testid: 'optout-faces-removed', 'data-label': 'Faces removed' }, e.status === 'pending' ? '—' : num(e.faces_removed)),
    h('td', { class: 'num', 'data-label': 'Images removed' }, e.status === 'pending' ? '—' : num(e.images_removed)),
    h('td', { 'data-label': 'Created by' }, e.created_by || '—'),
    h('td', { 'data-label': 'Created' }, fmtTime(e.created_at)),
    h('td', { 'data-label': 'Completed' }, e.completed_at ? fmtTime(e.completed_at) : '—'),
    h('td', null, withdrawButton),
  );

  let formRow = null;
  const close = () => {
    if (formRow) formRow.remove();
    formRow = null;
    withdrawButton.setAttribute('aria-expanded', 'false');
    withdrawButton.focus();
  };
  withdrawButton.addEventListener('click', () => {
    if (formRow) {
      formRow.querySelector('input').focus();
      return;
    }
    const reason = h('input', { type: 'text', required: true, maxlength: '2000', autocomplete: 'off', testid: 'optout-withdraw-reason' });
    const confirm = h('button', { type: 'submit', class: 'btn btn-small btn-danger', testid: 'optout-withdraw-confirm' }, 'Withdraw opt-out');
    const cancel = h('button', { type: 'button', class: 'btn btn-small btn-quiet', testid: 'optout-withdraw-cancel', onclick: close }, 'Cancel');
    const status = h('div', { 'aria-live': 'polite' });
    const form = h(
      'form',
      { class: 'withdraw-form', testid: 'optout-withdraw-form', 'data-id': String(e.id), novalidate: true },
      field(
        `Reason for withdrawing the opt-out of request ${e.request_id}`,
        reason,
        'Recorded in the audit trail. The person\'s faces are then no longer kept out of ingests and searches; faces removed earlier are not restored.',
      ),
      status,
      h('div', { class: 'actions' }, confirm, cancel),
    );
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const text = reason.value.trim();
      if (!text) {
        replace(status, messageBox('error', 'Give the reason for withdrawing.', 'optout-withdraw-error'));
        reason.focus();
        return;
      }
      confirm.disabled = cancel.disabled = true;
      try {
        await post(`/optouts/${encodeURIComponent(e.id)}/withdraw`, { reason: text });
        reload(
          messageBox(
            'ok',
            `The opt-out of request ${e.request_id} was withdrawn: matching faces are no longer kept out of ingests and searches. Faces removed earlier are not restored.`,
            'optout-withdrawn',
          ),
        );
      } catch (err) {
        replace(status, messageBox('error', err.message, 'optout-withdraw-error'));
        confirm.disabled = cancel.disabled = false;
      }
    });
    formRow = h('tr', { class: 'withdraw-row' }, h('td', { colspan: '9' }, form));
    tr.after(formRow);
    withdrawButton.setAttribute('aria-expanded', 'true');
    reason.focus();
  });
  return tr;
}
