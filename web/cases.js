// Cases (list and one case with its probes and searches) and the supervisor's
// page (pending accounts, recent searches of the unit).

import { h, replace, fmtTime, userName, categoryText, messageBox, table, defaultRetentionText } from './dom.js';
import { get, post, del, API } from './api.js';

function caseRows(cases) {
  return cases.map((c) =>
    h(
      'tr',
      { testid: 'case-row', 'data-id': String(c.id), 'data-number': c.number },
      h('td', null, h('a', { href: `#/cases/${encodeURIComponent(c.id)}`, testid: 'case-link' }, c.number)),
      h('td', { class: 'clip' }, c.purpose),
      h('td', null, categoryText(c.category)),
      h('td', null, userName(c.owner)),
      h('td', null, c.unit || '—'),
      h('td', null, fmtTime(c.created_at)),
      h('td', { class: 'num' }, c.searches !== undefined ? String(c.searches) : '—'),
    ),
  );
}

const CASE_HEADERS = ['Number', 'Purpose', 'Category', 'Owner', 'Unit', 'Opened', 'Searches'];

export async function pageCases(ctx) {
  const role = ctx.user.role;
  const title = role === 'investigator' ? 'My cases' : role === 'supervisor' ? 'Cases of the unit' : 'All cases';
  ctx.title(title);
  const data = await get('/cases');
  if (!ctx.alive()) return;
  const cases = sortNewest(data.cases || []);
  const deleted = ctx.query.get('deleted');
  replace(
    ctx.main,
    h('h1', { testid: 'page-title' }, title),
    deleted ? messageBox('ok', `Case ${deleted} deleted. The audit trail keeps its record.`, 'case-deleted') : null,
    role === 'investigator' ? h('p', null, h('a', { href: '#/search', class: 'btn btn-primary' }, 'New search')) : null,
    cases.length ? table(title, CASE_HEADERS, caseRows(cases)) : messageBox('info', 'No cases yet.', 'no-cases'),
  );
}

function sortNewest(list) {
  const t = (x) => {
    const v = x.created_at;
    return typeof v === 'number' ? v * 1000 : Date.parse(v) || 0;
  };
  return [...list].sort((a, b) => t(b) - t(a) || Number(b.id) - Number(a.id));
}

function searchRows(searches, caseObj) {
  return searches.map((s) => {
    const n = Array.isArray(s.candidates) ? s.candidates.length : s.candidate_count !== undefined ? s.candidate_count : s.candidates;
    return h(
      'tr',
      { testid: 'search-row', 'data-id': String(s.id) },
      h('td', null, h('a', { href: `#/searches/${encodeURIComponent(s.id)}`, testid: 'search-link' }, `Search #${s.id}`)),
      h('td', null, fmtTime(s.created_at)),
      h('td', null, userName(s.user || (caseObj && caseObj.owner))),
      h('td', { class: 'num' }, n !== undefined && n !== null ? String(n) : '—'),
      h('td', { class: 'num' }, s.top_k !== undefined ? String(s.top_k) : '—'),
    );
  });
}

export async function pageCase(ctx, id) {
  ctx.title('Case');
  const data = await get(`/cases/${encodeURIComponent(id)}`);
  if (!ctx.alive()) return;
  const c = data.case;
  const probes = data.probes || [];
  const searches = sortNewest(data.searches || []);
  const own = ctx.user.role === 'investigator' && c.owner && (c.owner.id === ctx.user.id || c.owner.username === ctx.user.username);
  ctx.title(`Case ${c.number}`);

  const probeList = probes.length
    ? h(
        'ul',
        { class: 'probes' },
        probes.map((p) =>
          h(
            'li',
            { class: 'card probe-item', testid: 'probe-row', 'data-id': String(p.id) },
            h('img', { src: `${API}/probes/${encodeURIComponent(p.id)}/image`, alt: `Probe photo #${p.id}`, class: 'thumb-img', loading: 'lazy' }),
            h(
              'p',
              null,
              `Photo #${p.id}`,
              h('br'),
              `${(p.faces || []).length} face(s)`,
              p.created_at ? h('span', null, h('br'), fmtTime(p.created_at)) : null,
            ),
            own && (p.faces || []).length
              ? h(
                  'a',
                  { class: 'btn', href: `#/search?case=${encodeURIComponent(c.id)}&probe=${encodeURIComponent(p.id)}`, testid: 'probe-search-again' },
                  'Search again',
                )
              : null,
          ),
        ),
      )
    : messageBox('info', 'No photos uploaded yet.');

  replace(
    ctx.main,
    h(
      'section',
      { class: 'case', testid: 'case-detail', 'data-id': String(c.id) },
      h('h1', { testid: 'case-number-heading' }, `Case ${c.number}`),
      h(
        'dl',
        { class: 'kv card' },
        h('dt', null, 'Purpose'),
        h('dd', { testid: 'case-purpose-text', class: 'purpose' }, c.purpose),
        h('dt', null, 'Category'),
        h('dd', null, categoryText(c.category)),
        h('dt', null, 'Owner'),
        h('dd', null, userName(c.owner)),
        h('dt', null, 'Unit'),
        h('dd', null, c.unit || '—'),
        h('dt', null, 'Opened'),
        h('dd', null, fmtTime(c.created_at)),
        h('dt', null, 'Probe photos kept'),
        h('dd', { testid: 'case-retention-text' },
          c.retention_days > 0 ? `${c.retention_days} days after upload` : defaultRetentionText(ctx.deployment)),
      ),
      own
        ? h('p', null, h('a', { href: `#/search?case=${encodeURIComponent(c.id)}`, class: 'btn btn-primary', testid: 'case-new-search' }, 'New search in this case'))
        : null,
      h('h2', null, 'Searches'),
      searches.length
        ? table('Searches of this case', ['Search', 'When', 'By', 'Candidates', 'Top K'], searchRows(searches, c))
        : messageBox('info', 'No searches yet.', 'no-searches'),
      h('h2', null, 'Photos'),
      probeList,
      own || ctx.user.role === 'supervisor' ? deleteCaseControl(ctx, c) : null,
    ),
  );
}

// ---- supervisor ----

// What approving gives: a registration's role, an admin's new account (two-person
// rule), or a role change while the old one stays in force.
function awaitedRole(u) {
  if (!u.pending_role) return `${u.role} (registered)`;
  if (!u.active && !u.approved_by) return `${u.pending_role} (new account)`;
  return `${u.pending_role} (now ${u.role})`;
}

export async function pageSupervisor(ctx) {
  const isSup = ctx.user.role === 'supervisor';
  ctx.title(isSup ? 'Supervisor' : 'Approvals');
  const approvalsBox = h('section', { testid: 'approvals', 'aria-labelledby': 'appr-h' }, h('h2', { id: 'appr-h' }, 'Accounts awaiting approval'));
  const searchesBox = isSup
    ? h('section', { testid: 'unit-searches', 'aria-labelledby': 'us-h' }, h('h2', { id: 'us-h' }, 'Recent searches in your unit'), h('p', { class: 'loading' }, 'Loading…'))
    : null;
  replace(
    ctx.main,
    h('h1', { testid: 'page-title' }, isSup ? `Supervisor — ${ctx.user.unit || 'your unit'}` : 'Approvals'),
    approvalsBox,
    searchesBox,
  );

  const loadApprovals = async () => {
    const data = await get('/approvals');
    if (!ctx.alive()) return;
    const users = data.users || [];
    const head = approvalsBox.firstChild;
    if (!users.length) {
      replace(approvalsBox, head, messageBox('info', 'No accounts are waiting.', 'no-approvals'));
      return;
    }
    const rows = users.map((u) => {
      const status = h('span', { 'aria-live': 'polite' });
      const btn = h(
        'button',
        {
          type: 'button',
          class: 'btn btn-primary',
          testid: 'approve-button',
          'aria-label': `Approve ${u.username}`,
          onclick: async () => {
            btn.disabled = true;
            try {
              await post(`/users/${encodeURIComponent(u.id)}/approve`, {});
              replace(status, messageBox('ok', 'Approved.'));
              btn.remove();
              reject.remove();
            } catch (e) {
              replace(status, messageBox('error', e.message));
              btn.disabled = false;
            }
          },
        },
        'Approve',
      );
      // Refusing asks once more: a refused request is deleted (a role grant withdrawn).
      const reject = h('button', { type: 'button', class: 'btn', testid: 'reject-button', 'aria-label': `Refuse ${u.username}` }, 'Refuse');
      const confirmReject = h(
        'button',
        { type: 'button', class: 'btn btn-danger', testid: 'reject-confirm', hidden: true },
        u.approved_by || u.active ? `Yes, refuse the ${u.pending_role} role` : `Yes, refuse and delete ${u.username}'s request`,
      );
      const cancelReject = h('button', { type: 'button', class: 'btn', testid: 'reject-cancel', hidden: true }, 'Cancel');
      const rejectSteps = (asking) => {
        btn.hidden = reject.hidden = asking;
        confirmReject.hidden = cancelReject.hidden = !asking;
      };
      reject.addEventListener('click', () => rejectSteps(true));
      cancelReject.addEventListener('click', () => rejectSteps(false));
      confirmReject.addEventListener('click', async () => {
        confirmReject.disabled = true;
        try {
          const res = await post(`/users/${encodeURIComponent(u.id)}/reject`, {});
          replace(status, messageBox('ok', res.rejected === 'account' ? 'Refused: the request was deleted.' : 'Refused: the role in force stays.'));
          btn.remove();
          reject.remove();
          confirmReject.remove();
          cancelReject.remove();
        } catch (e) {
          replace(status, messageBox('error', e.message));
          confirmReject.disabled = false;
          rejectSteps(false);
        }
      });
      return h(
        'tr',
        { testid: 'approval-row', 'data-id': String(u.id), 'data-username': u.username },
        h('td', null, u.username),
        h('td', null, u.display_name || '—'),
        h('td', null, u.unit || '—'),
        h('td', { testid: 'approval-role' }, awaitedRole(u)),
        h('td', null, fmtTime(u.created_at)),
        h('td', null, btn, ' ', reject, ' ', confirmReject, ' ', cancelReject, status),
      );
    });
    replace(
      approvalsBox,
      head,
      table('Accounts awaiting approval', ['Username', 'Name', 'Unit', 'Role awaited', 'Requested', 'Action'], rows),
    );
  };

  const loadSearches = async () => {
    const data = await get('/searches?limit=100');
    if (!ctx.alive()) return;
    const all = (data.searches || []).map((s) => ({
      s,
      c: { id: s.case_id, number: s.case_number, category: s.category, purpose: s.purpose, owner: s.user },
    }));
    const head = searchesBox.firstChild;
    if (!all.length) {
      replace(searchesBox, head, messageBox('info', 'No searches in your unit yet.', 'no-unit-searches'));
      return;
    }
    const rows = all.slice(0, 100).map(({ s, c }) =>
      h(
        'tr',
        { testid: 'unit-search-row', 'data-id': String(s.id), 'data-case-number': c.number },
        h('td', null, fmtTime(s.created_at)),
        h('td', null, h('a', { href: `#/cases/${encodeURIComponent(c.id)}` }, c.number)),
        h('td', null, userName(s.user || c.owner)),
        h('td', null, categoryText(c.category)),
        h('td', { class: 'clip' }, c.purpose),
        h('td', null, h('a', { href: `#/searches/${encodeURIComponent(s.id)}`, 'aria-label': `Results of search ${s.id}, case ${c.number}` }, 'Results')),
      ),
    );
    replace(searchesBox, head, table('Recent searches in your unit', ['When', 'Case', 'By', 'Category', 'Purpose', ''], rows));
  };

  const guard = (p, box) =>
    p.catch((e) => {
      if (ctx.alive() && box) replace(box, box.firstChild, messageBox('error', e.message));
    });
  await Promise.all([guard(loadApprovals(), approvalsBox), isSup ? guard(loadSearches(), searchesBox) : null]);
}

// Two-step deletion (no browser dialog): the case, its probe photos, searches
// and decisions go; the audit trail keeps the record of them.
function deleteCaseControl(ctx, c) {
  const status = h('div', { 'aria-live': 'polite' });
  const confirm = h('button', { type: 'button', class: 'btn btn-danger', testid: 'case-delete-confirm', hidden: true }, `Yes, delete case ${c.number}`);
  const start = h('button', { type: 'button', class: 'btn', testid: 'case-delete' }, 'Delete this case…');
  start.addEventListener('click', () => {
    confirm.hidden = false;
    replace(status, messageBox('info', 'Deleting removes the probe photos, searches and decisions of this case. The audit trail keeps its record.'));
    confirm.focus();
  });
  confirm.addEventListener('click', async () => {
    confirm.disabled = true;
    try {
      await del(`/cases/${encodeURIComponent(c.id)}`);
      // The case is gone: leave its page for the list, which says so.
      ctx.navigate(`#/cases?deleted=${encodeURIComponent(c.number)}`);
    } catch (e) {
      replace(status, messageBox('error', e.message));
      confirm.disabled = false;
    }
  });
  return h('section', { class: 'card danger-zone', 'aria-label': 'Delete case' }, start, confirm, status);
}
