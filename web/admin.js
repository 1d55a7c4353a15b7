// Auditor's log and the administrator's pages (users, collections, ingest jobs).

import { h, replace, fmtTime, userName, messageBox, table, field } from './dom.js';
import { get, post, patch, query, API } from './api.js';

const AUDIT_PAGE = 50;
// The actions the audit trail records (docs/API.md, AuditRecord).
const ACTIONS = [
  'login',
  'login_failed',
  'logout',
  'account_change',
  'case_create',
  'case_view',
  'probe_upload',
  'probe_view',
  'search',
  'search_view',
  'candidate_view',
  'decision',
  'case_delete',
  'audit_verify',
  'export',
  'report',
  'optout_add',
  'optout_remove',
  'optout_process',
  'erase',
  'retention',
  'settings_change',
];

// What a verification found, as messages: the verdict first, then what
// was checked (anchors, signed checkpoints, decisions).
function verifyMessages(v) {
  const head = v.head || {};
  const short = (hash) => (hash ? `${String(hash).slice(0, 16)}…` : '—');
  if (!v.ok) {
    const at = v.first_bad_seq ? ` at record ${v.first_bad_seq}` : '';
    return [messageBox('error', `Trail DAMAGED${at}: ${v.problem || 'unknown problem'} (${v.records} records read).`)];
  }
  const out = [messageBox('ok', `Trail OK: ${v.records} records verified; head record ${head.seq ?? '—'}, hash ${short(head.hash)}.`)];
  const checked = [];
  if (v.anchors_checked) checked.push(`${v.anchors_checked} anchor(s) you gave are in the chain.`);
  const cp = v.checkpoints;
  if (cp && cp.newest) {
    checked.push(
      `${cp.checked} signed checkpoint(s) hold (key ${cp.key_id}); the newest covers record ${cp.newest.seq} (${cp.newest.time}), ` +
        `${cp.records_after_newest} record(s) after it.`,
    );
  } else if (cp) {
    checked.push('No signed checkpoint yet: the server writes one within seconds of a change.');
  } else {
    checked.push('Signed checkpoints are off on this server: only the chain itself was checked.');
  }
  if (v.decisions) checked.push(`${v.decisions.checked} decision(s) agree with the trail.`);
  out.push(h('p', { class: 'hint', testid: 'audit-verify-details' }, checked.join(' ')));
  return out;
}

const FILTERS = ['user', 'case', 'action', 'text', 'since', 'until'];

function wide(el) {
  el.classList.add('field-wide');
  return el;
}

function detailsText(d) {
  if (d === undefined || d === null || d === '') return '';
  if (typeof d === 'string') return d;
  try {
    return JSON.stringify(d);
  } catch {
    return String(d);
  }
}

export async function pageAudit(ctx) {
  ctx.title('Audit log');
  const q = ctx.query;
  const filters = {};
  for (const k of FILTERS) filters[k] = q.get(k) || '';
  const after = q.get('after') || '';

  const inputs = {
    user: h('input', { type: 'text', testid: 'audit-filter-user', value: filters.user, autocomplete: 'off' }),
    case: h('input', { type: 'text', testid: 'audit-filter-case', value: filters.case, autocomplete: 'off' }),
    action: h('input', { type: 'text', testid: 'audit-filter-action', value: filters.action, list: 'audit-actions', autocomplete: 'off' }),
    text: h('input', { type: 'text', testid: 'audit-filter-text', value: filters.text, autocomplete: 'off' }),
    since: h('input', { type: 'date', testid: 'audit-filter-since', value: filters.since }),
    until: h('input', { type: 'date', testid: 'audit-filter-until', value: filters.until }),
  };
  const hashFor = (f, a) => `#/audit${query({ ...f, after: a })}`;
  const form = h(
    'form',
    { class: 'card form filters', testid: 'audit-filters', role: 'search' },
    h('div', { class: 'filter-grid' }, [
      field('User (username)', inputs.user),
      field('Case number', inputs.case),
      field('Action', inputs.action),
      field('Since (inclusive)', inputs.since),
      field('Until (inclusive)', inputs.until),
      wide(
        field(
          'Purpose / details contain',
          inputs.text,
          'Exact text, case-sensitive, as recorded in the details (JSON), e.g. a word of a search\'s purpose.',
        ),
      ),
    ]),
    h('datalist', { id: 'audit-actions' }, ACTIONS.map((a) => h('option', { value: a }))),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'submit', class: 'btn btn-primary', testid: 'audit-apply' }, 'Apply filters'),
      h('a', { href: '#/audit', class: 'btn btn-quiet', testid: 'audit-reset' }, 'Clear'),
    ),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const f = {};
    for (const k of FILTERS) f[k] = inputs[k].value.trim();
    ctx.navigate(hashFor(f, ''));
  });

  const verifyOut = h('div', { testid: 'audit-verify-result', 'aria-live': 'polite' });
  const anchorInput = h('input', {
    type: 'text',
    testid: 'audit-anchor',
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: 'e.g. 1042:9f3a…',
  });
  const verifyBtn = h('button', { type: 'button', class: 'btn', testid: 'audit-verify' }, 'Verify trail');
  verifyBtn.addEventListener('click', async () => {
    verifyBtn.disabled = true;
    delete verifyOut.dataset.ok;
    replace(verifyOut, messageBox('info', 'Verifying the whole trail…'));
    try {
      const anchors = anchorInput.value.split(/[\s,]+/).filter(Boolean);
      const v = await get(`/audit/verify${anchors.length ? query({ anchor: anchors.join(',') }) : ''}`);
      replace(verifyOut, ...verifyMessages(v));
      verifyOut.dataset.ok = v.ok ? 'true' : 'false';
    } catch (e) {
      replace(verifyOut, messageBox('error', e.message));
    } finally {
      verifyBtn.disabled = false;
    }
  });
  const verifyBox = h(
    'div',
    { class: 'card form verify' },
    field(
      'Anchors you kept (optional)',
      anchorInput,
      'SEQ:HASH from an earlier head (lineup audit head), several separated by spaces. The signed checkpoints are always checked.',
    ),
    h('div', { class: 'actions' }, verifyBtn),
    verifyOut,
  );

  const activeFilters = {};
  for (const k of FILTERS) if (filters[k]) activeFilters[k] = filters[k];
  const exportCsv = h(
    'a',
    { class: 'btn btn-quiet', href: `${API}/audit/export${query({ format: 'csv', ...activeFilters })}`, testid: 'audit-export-csv', download: '' },
    'Export CSV',
  );
  const exportJsonl = h(
    'a',
    { class: 'btn btn-quiet', href: `${API}/audit/export${query({ format: 'jsonl', ...activeFilters })}`, testid: 'audit-export-jsonl', download: '' },
    'Export JSON lines',
  );

  // The oversight report of the filter's period (default: the last 30 days), in a new tab.
  const period = {};
  if (filters.since) period.since = filters.since;
  if (filters.until) period.until = filters.until;
  const report = h(
    'a',
    { class: 'btn btn-quiet', href: `${API}/report${query({ format: 'html', ...period })}`, target: '_blank', rel: 'noopener noreferrer', testid: 'oversight-report' },
    'Oversight report',
  );

  const listBox = h('div', { class: 'audit-list' }, h('p', { class: 'loading', role: 'status' }, 'Loading…'));
  replace(
    ctx.main,
    h('h1', { testid: 'page-title' }, 'Audit log'),
    form,
    h('div', { class: 'toolbar' }, exportCsv, exportJsonl, report),
    verifyBox,
    listBox,
  );

  const data = await get(`/audit${query({ ...activeFilters, after, limit: AUDIT_PAGE })}`);
  if (!ctx.alive()) return;
  const records = data.records || [];
  if (!records.length) {
    replace(listBox, messageBox('info', after ? 'No more records.' : 'No records match these filters.', 'audit-none'), pager(records));
    return;
  }
  const rows = records.map((r) => {
    const ev = r.event || r;
    return h(
      'tr',
      { testid: 'audit-row', 'data-seq': String(r.seq), 'data-action': ev.action || '' },
      h('td', { class: 'num' }, String(r.seq)),
      h('td', { class: 'nowrap' }, fmtTime(r.time)),
      h('td', null, userName(ev.actor)),
      h('td', null, ev.role || '—'),
      h('td', null, ev.action || '—'),
      h('td', null, ev.case_number || '—'),
      h('td', null, ev.client || '—'),
      h('td', { class: 'details' }, h('code', null, detailsText(ev.details !== undefined ? ev.details : ev.details_json))),
      h('td', null, h('code', { title: r.hash || '' }, r.hash ? String(r.hash).slice(0, 12) : '—')),
    );
  });
  replace(
    listBox,
    table('Audit records', ['Seq', 'Time', 'User', 'Role', 'Action', 'Case', 'Client', 'Details', 'Hash'], rows),
    pager(records),
  );

  function pager(recs) {
    const last = recs.length ? recs[recs.length - 1].seq : null;
    return h(
      'nav',
      { class: 'pager', 'aria-label': 'Audit pages' },
      after ? h('a', { class: 'btn btn-quiet', href: hashFor(activeFilters, ''), testid: 'audit-first' }, '« First page') : null,
      recs.length >= AUDIT_PAGE && last !== null
        ? h('a', { class: 'btn', href: hashFor(activeFilters, String(last)), testid: 'audit-next' }, 'Next page »')
        : null,
    );
  }
}

// ---- admin ----

const ROLES = ['investigator', 'supervisor', 'auditor', 'admin'];

export async function pageAdmin(ctx) {
  ctx.title('Administration');
  const usersBox = h('section', { testid: 'users', 'aria-labelledby': 'u-h' }, h('h2', { id: 'u-h' }, 'Users'));
  const collBox = h('section', { testid: 'collections', 'aria-labelledby': 'c-h' }, h('h2', { id: 'c-h' }, 'Collections'));
  const jobsBox = h('section', { testid: 'jobs', 'aria-labelledby': 'j-h' }, h('h2', { id: 'j-h' }, 'Ingest jobs'));
  replace(
    ctx.main,
    h('h1', { testid: 'page-title' }, 'Administration'),
    h(
      'nav',
      { class: 'toc', 'aria-label': 'Sections' },
      h('a', { href: '#u-h', onclick: jump('u-h') }, 'Users'),
      h('a', { href: '#c-h', onclick: jump('c-h') }, 'Collections'),
      h('a', { href: '#j-h', onclick: jump('j-h') }, 'Ingest jobs'),
    ),
    usersBox,
    newUserForm(ctx, () => loadUsers()),
    collBox,
    jobsBox,
  );

  function jump(id) {
    return (ev) => {
      ev.preventDefault(); // keep the hash route
      const el = document.getElementById(id);
      if (el) {
        el.setAttribute('tabindex', '-1');
        el.focus();
        el.scrollIntoView();
      }
    };
  }

  const fail = (box) => (e) => {
    if (ctx.alive()) replace(box, box.firstChild, messageBox('error', e.message));
  };

  async function loadUsers() {
    const data = await get('/users');
    if (!ctx.alive()) return;
    const users = data.users || [];
    const rows = users.map((u) => userRow(ctx, u));
    replace(
      usersBox,
      usersBox.firstChild,
      users.length
        ? table('Users', ['Username', 'Name', 'Unit', 'Role', 'Status', 'TOTP', 'Created', 'Approved by'], rows)
        : messageBox('info', 'No users.'),
    );
  }

  let collectionNames = new Map();
  async function loadCollections() {
    const data = await get('/collections');
    if (!ctx.alive()) return;
    const cols = data.collections || [];
    collectionNames = new Map(cols.map((c) => [String(c.id), c.name]));
    const rows = cols.map((c) =>
      h(
        'tr',
        { testid: 'collection-row', 'data-id': String(c.id) },
        h('td', null, c.name || '—'),
        h('td', null, c.legal_basis || '—'),
        h('td', { class: 'num' }, count(c, ['images', 'image_count'])),
        h('td', { class: 'num' }, count(c, ['faces', 'face_count'])),
        h('td', null, fmtTime(c.created_at)),
      ),
    );
    replace(
      collBox,
      collBox.firstChild,
      cols.length ? table('Collections', ['Name', 'Legal basis', 'Images', 'Faces', 'Created'], rows) : messageBox('info', 'No collections.'),
    );
  }

  async function loadJobs() {
    const data = await get('/jobs');
    if (!ctx.alive()) return;
    const jobs = data.jobs || [];
    const rows = jobs.map((j) => jobRow(j, collectionNames));
    replace(
      jobsBox,
      jobsBox.firstChild,
      jobs.length
        ? table('Ingest jobs', ['Job', 'Collection', 'Input', 'Status', 'Progress', 'Counters', 'Started', 'Finished'], rows)
        : messageBox('info', 'No ingest jobs.'),
    );
  }

  // jobs name their collection by id: collections first
  await Promise.all([
    loadUsers().catch(fail(usersBox)),
    loadCollections()
      .catch(fail(collBox))
      .then(() => loadJobs().catch(fail(jobsBox))),
  ]);
}

function count(obj, keys) {
  for (const k of keys) if (obj[k] !== undefined && obj[k] !== null) return String(obj[k]);
  return '—';
}

// A grant awaiting a second person's approval (two-person rule), or ''.
function pendingText(u) {
  return u.pending_role ? `awaiting approval as ${u.pending_role}` : '';
}

function userRow(ctx, u) {
  const status = h('span', { class: 'row-status', 'aria-live': 'polite' });
  const roleSel = h(
    'select',
    { testid: 'user-role', 'aria-label': `Role of ${u.username}`, disabled: u.id === ctx.user.id },
    ROLES.map((r) => h('option', { value: r, selected: u.role === r }, r)),
  );
  const activeText = h('span', null, u.active ? 'active' : 'inactive');
  const pending = h('span', { class: 'muted', testid: 'user-pending' }, pendingText(u));
  const toggle = h(
    'button',
    { type: 'button', class: 'btn btn-small', testid: 'user-active-toggle', disabled: u.id === ctx.user.id },
    u.active ? 'Deactivate' : 'Activate',
  );
  // A role is chosen, then saved: nothing is sent on the select's change (an arrow key
  // would grant it), and an admin grant asks once more.
  const saveRole = h(
    'button',
    { type: 'button', class: 'btn btn-small', testid: 'user-role-save', hidden: true, 'aria-label': `Save the role of ${u.username}` },
    'Save role',
  );
  const confirmAdmin = h(
    'button',
    { type: 'button', class: 'btn btn-small btn-danger', testid: 'user-role-confirm', hidden: true },
    `Yes, make ${u.username} an admin`,
  );
  const cancelRole = h('button', { type: 'button', class: 'btn btn-small', testid: 'user-role-cancel', hidden: true }, 'Cancel');
  const roleSteps = (chosen, confirming) => {
    saveRole.hidden = !chosen || confirming;
    confirmAdmin.hidden = !confirming;
    cancelRole.hidden = !chosen;
  };
  const update = async (body) => {
    replace(status);
    roleSteps(false, false);
    roleSel.disabled = toggle.disabled = true;
    try {
      const res = await patch(`/users/${encodeURIComponent(u.id)}`, body);
      Object.assign(u, res.user || body);
      roleSel.value = u.role;
      activeText.textContent = u.active ? 'active' : 'inactive';
      toggle.textContent = u.active ? 'Deactivate' : 'Activate';
      pending.textContent = pendingText(u);
      // Under the two-person rule a grant waits: the server says who approves it.
      replace(status, res.message ? messageBox('info', res.message) : messageBox('ok', 'Saved.'));
    } catch (e) {
      roleSel.value = u.role;
      replace(status, messageBox('error', e.message));
    } finally {
      roleSel.disabled = toggle.disabled = false;
    }
  };
  roleSel.addEventListener('change', () => {
    replace(status);
    roleSteps(roleSel.value !== u.role, false);
  });
  saveRole.addEventListener('click', () => {
    if (roleSel.value === 'admin') {
      roleSteps(true, true);
      replace(status, messageBox('info', `An admin manages every account, collection and opt-out. Make ${u.username} an admin?`));
      return;
    }
    update({ role: roleSel.value });
  });
  confirmAdmin.addEventListener('click', () => update({ role: 'admin' }));
  cancelRole.addEventListener('click', () => {
    roleSel.value = u.role;
    roleSteps(false, false);
    replace(status);
  });
  toggle.addEventListener('click', () => update({ active: !u.active }));
  // After too many failed sign-ins a name is locked for the address they came from (and, after
  // very many, for every address); this clears it everywhere. Audited.
  const unlock = h(
    'button',
    { type: 'button', class: 'btn btn-small', testid: 'user-unlock', 'aria-label': `Clear the sign-in lock-out of ${u.username}` },
    'Clear lock-out',
  );
  unlock.addEventListener('click', async () => {
    replace(status);
    unlock.disabled = true;
    try {
      await post(`/users/${encodeURIComponent(u.id)}/unlock`, {});
      replace(status, messageBox('ok', `${u.username} can sign in again from every address.`));
    } catch (e) {
      replace(status, messageBox('error', e.message));
    } finally {
      unlock.disabled = false;
    }
  });
  // A unit is changed in place and saved by its own button; the server spells it as the
  // accounts already in it do ("cid" is saved as "CID").
  const unitText = h('span', { testid: 'user-unit' }, u.unit || '—');
  const unitInput = h('input', { type: 'text', testid: 'user-unit-input', hidden: true, value: u.unit || '', 'aria-label': `Unit of ${u.username}` });
  const unitEdit = h('button', { type: 'button', class: 'btn btn-small', testid: 'user-unit-edit', 'aria-label': `Change the unit of ${u.username}` }, 'Change');
  const unitSave = h('button', { type: 'button', class: 'btn btn-small', testid: 'user-unit-save', hidden: true }, 'Save unit');
  const unitCancel = h('button', { type: 'button', class: 'btn btn-small', testid: 'user-unit-cancel', hidden: true }, 'Cancel');
  const unitSteps = (editing) => {
    unitText.hidden = unitEdit.hidden = editing;
    unitInput.hidden = unitSave.hidden = unitCancel.hidden = !editing;
  };
  unitEdit.addEventListener('click', () => {
    unitInput.value = u.unit || '';
    unitSteps(true);
    unitInput.focus();
  });
  unitCancel.addEventListener('click', () => unitSteps(false));
  unitSave.addEventListener('click', async () => {
    unitSave.disabled = true;
    try {
      const res = await patch(`/users/${encodeURIComponent(u.id)}`, { unit: unitInput.value });
      Object.assign(u, res.user);
      unitText.textContent = u.unit || '—';
      unitSteps(false);
      replace(status, messageBox('ok', `${u.username} is now in ${u.unit || 'no unit'}.`));
    } catch (e) {
      replace(status, messageBox('error', e.message));
    } finally {
      unitSave.disabled = false;
    }
  });
  // A forgotten password: a new one-time password, shown here once, which the user must
  // change at their next sign-in; the old one, their sessions and tokens stop at once. Asks first.
  const reset = h(
    'button',
    { type: 'button', class: 'btn btn-small', testid: 'user-reset', disabled: u.id === ctx.user.id, 'aria-label': `Reset the password of ${u.username}` },
    'Reset password',
  );
  const confirmReset = h(
    'button',
    { type: 'button', class: 'btn btn-small btn-danger', testid: 'user-reset-confirm', hidden: true },
    `Yes, give ${u.username} a new password`,
  );
  const cancelReset = h('button', { type: 'button', class: 'btn btn-small', testid: 'user-reset-cancel', hidden: true }, 'Cancel');
  const resetSteps = (asking) => {
    reset.hidden = asking;
    confirmReset.hidden = cancelReset.hidden = !asking;
  };
  reset.addEventListener('click', () => {
    resetSteps(true);
    replace(status, messageBox('info', `${u.username}'s current password will stop working, and their sessions and API tokens will end. Go on?`));
  });
  cancelReset.addEventListener('click', () => {
    resetSteps(false);
    replace(status);
  });
  confirmReset.addEventListener('click', async () => {
    confirmReset.disabled = true;
    try {
      const res = await post(`/users/${encodeURIComponent(u.id)}/password-reset`, {});
      replace(
        status,
        h(
          'p',
          { class: 'msg msg-ok', role: 'status', testid: 'user-reset-done' },
          `One-time password for ${u.username}: `,
          h('code', { testid: 'user-reset-password' }, res.one_time_password),
          '. Give it to them in person or by a trusted channel: it is shown only now, and they must choose their own at their next sign-in.',
        ),
      );
    } catch (e) {
      replace(status, messageBox('error', e.message));
    } finally {
      confirmReset.disabled = false;
      resetSteps(false);
    }
  });
  return h(
    'tr',
    { testid: 'user-row', 'data-id': String(u.id), 'data-username': u.username },
    h('td', null, u.username),
    h('td', null, u.display_name || '—'),
    h('td', null, unitText, ' ', unitEdit, unitInput, ' ', unitSave, ' ', unitCancel),
    h('td', null, roleSel, ' ', saveRole, ' ', confirmAdmin, ' ', cancelRole, ' ', pending),
    h('td', null, activeText, ' ', toggle, ' ', unlock, ' ', reset, ' ', confirmReset, ' ', cancelReset, status),
    h('td', null, u.totp_enabled ? 'on' : 'off'),
    h('td', null, fmtTime(u.created_at)),
    h('td', null, u.approved_by ? userName(u.approved_by) : '—'),
  );
}

function newUserForm(ctx, reload) {
  const i = {
    username: h('input', { type: 'text', required: true, autocomplete: 'off', testid: 'user-new-username' }),
    password: h('input', { type: 'password', required: true, autocomplete: 'new-password', testid: 'user-new-password' }),
    display_name: h('input', { type: 'text', required: true, testid: 'user-new-display-name' }),
    unit: h('input', { type: 'text', required: true, testid: 'user-new-unit' }),
    role: h('select', { testid: 'user-new-role' }, ROLES.map((r) => h('option', { value: r }, r))),
  };
  const status = h('div', { 'aria-live': 'polite', testid: 'user-new-message' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'user-new-submit' }, 'Create account');
  const form = h(
    'form',
    { class: 'card form', testid: 'user-new-form', novalidate: true },
    h('h3', null, 'New account'),
    h('div', { class: 'filter-grid' }, [
      field('Username', i.username),
      field('Initial password', i.password, 'One-time: the user chooses their own at first sign-in.'),
      field('Full name', i.display_name),
      field('Unit', i.unit),
      field('Role', i.role),
    ]),
    status,
    h('div', { class: 'actions' }, submit),
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = {
      username: i.username.value.trim(),
      password: i.password.value,
      display_name: i.display_name.value.trim(),
      unit: i.unit.value.trim(),
      role: i.role.value,
      temporary_password: true,
    };
    if (!body.username || !body.password || !body.display_name || !body.unit) {
      replace(status, messageBox('error', 'Fill in every field.'));
      return;
    }
    submit.disabled = true;
    try {
      const res = await post('/users', body);
      const made = `Account ${res.user ? res.user.username : body.username} created.`;
      replace(status, res.message ? messageBox('info', `${made} ${res.message}`) : messageBox('ok', made));
      form.reset();
      reload().catch(() => {});
    } catch (e) {
      replace(status, messageBox('error', e.message));
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

function jobRow(j, collectionNames) {
  const cnt = j.counters && typeof j.counters === 'object' ? j.counters : {};
  const num = (...keys) => {
    for (const k of keys) {
      if (typeof j[k] === 'number') return j[k];
      if (typeof cnt[k] === 'number') return cnt[k];
    }
    return undefined;
  };
  const total = num('total', 'images_total', 'files_total', 'items_total');
  const done = num('done', 'processed', 'images_seen', 'files_done', 'items_done');
  let progress = '—';
  if (total > 0 && done !== undefined) {
    const pct = Math.min(100, Math.round((done / total) * 100));
    progress = h(
      'span',
      { class: 'progress-cell' },
      h('progress', { max: String(total), value: String(done), testid: 'job-progress', 'aria-label': `${pct} percent` }),
      ` ${done} / ${total} (${pct}%)`,
    );
  } else if (done !== undefined && (j.status === 'running' || j.status === 'interrupted')) {
    progress = `${done} image(s) so far`;
  } else if (typeof j.progress === 'number') {
    const p = j.progress <= 1 ? j.progress * 100 : j.progress;
    progress = h(
      'span',
      { class: 'progress-cell' },
      h('progress', { max: '100', value: String(p), testid: 'job-progress' }),
      ` ${Math.round(p)}%`,
    );
  }
  const skip = new Set(['id', 'total', 'done', 'processed', 'progress', 'started_at', 'finished_at', 'created_at', 'updated_at', 'collection_id']);
  const counters = Object.entries(j.counters && typeof j.counters === 'object' ? j.counters : j)
    .filter(([k, v]) => typeof v === 'number' && !skip.has(k) && !k.endsWith('_id'))
    .map(([k, v]) => `${k.replace(/_/g, ' ')}: ${v}`)
    .join(', ');
  return h(
    'tr',
    { testid: 'job-row', 'data-id': String(j.id) },
    h('td', null, `#${j.id}`),
    h(
      'td',
      null,
      typeof j.collection === 'object' && j.collection
        ? j.collection.name || '—'
        : j.collection || (j.collection_id !== undefined ? collectionNames.get(String(j.collection_id)) || `#${j.collection_id}` : '—'),
    ),
    h('td', { class: 'clip' }, j.input || '—'),
    h('td', null, j.status || j.state || '—'),
    h('td', null, progress),
    h('td', { class: 'details' }, counters || '—'),
    h('td', null, fmtTime(j.started_at || j.created_at)),
    h('td', null, fmtTime(j.finished_at)),
  );
}
