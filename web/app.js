// Lineup web app: entry point, session, navigation and hash router.
//
// Plain ES modules, no build step, no external resources. Every piece of data
// reaches the page through textContent or DOM attributes (see dom.js); links
// to outside pages are http(s) only.
//
// Routes (location.hash):
//   #/login  #/register
//   #/search[?case=ID[&probe=ID]]           new search (investigator)
//   #/cases  #/cases/ID                      cases and their searches
//   #/searches/ID                            results grid
//   #/searches/ID/candidates/FACE_ID         candidate detail + decision
//   #/supervisor                             approvals, unit's recent searches
//   #/audit[?user=&case=&action=&text=&since=&until=&after=]
//   #/admin                                  users, collections, ingest jobs
//   #/optouts                                opt-out requests: add (photo → face), list, withdraw (admin)
//   #/account                                own account: TOTP, API tokens (every role)
//
// Stable data-testid hooks (for tests/e2e and anyone else):
//   app shell:   nav, nav-search, nav-cases, nav-supervisor, nav-audit, nav-admin, nav-optouts,
//                nav-account, nav-user, nav-logout, page-title, page-error, not-found, forbidden, loading
//   password:    password-form, password-current, password-new, password-repeat, password-submit,
//                password-error, password-forced, password-change-link, login-notice
//   login:       login-form, login-username, login-password, login-totp, login-submit,
//                login-error, login-register-link
//   register:    register-form, register-username, register-password, register-display-name,
//                register-password-repeat, register-unit, register-submit, register-error,
//                register-message
//   new search:  case-select, case-use, case-new-form, case-number, case-purpose, case-category, case-retention,
//                case-create, case-error, case-summary, case-summary-number, case-summary-purpose,
//                photo-input, photo-upload, upload-status, upload-error, probe, probe-image,
//                face-box-N (N = 0, 1, ...), face-count, no-faces, selected-face,
//                search-collections, search-collection (one checkbox per collection, value = name),
//                top-k, search-submit, search-error
//   results:     results, candidate-notice, search-summary, candidate-card, candidate-open,
//                candidate-rank, candidate-score, candidate-band, candidate-collection,
//                candidate-source, candidate-label, candidate-decision, no-candidates,
//                probe-thumb
//   candidate:   candidate-detail, candidate-image, candidate-face-box, provenance,
//                prov-collection, prov-legal-basis, prov-source-url, prov-page-url, prov-title,
//                prov-captured, prov-published, prov-original-name, prov-ingested,
//                candidate-erased,
//                decision-form, decision-select, decision-note, decision-submit,
//                decision-current, decision-saved, decision-error, back-to-results
//   cases:       case-row, case-link, case-detail, case-number-heading, case-purpose-text, case-retention-text,
//                case-new-search, search-row, search-link, probe-row, probe-search-again
//   supervisor:  approvals, approval-row, approve-button, no-approvals, unit-searches,
//                unit-search-row, no-unit-searches
//   audit:       audit-filters, audit-filter-user, audit-filter-case, audit-filter-action,
//                audit-filter-text, audit-filter-since, audit-filter-until, audit-apply, audit-reset, audit-row,
//                audit-none, audit-next, audit-first, audit-verify, audit-verify-result,
//                audit-export-csv, audit-export-jsonl
//   admin:       users, user-row, user-role, user-active-toggle, user-new-form, user-new-username,
//                user-new-password, user-new-display-name, user-new-unit, user-new-role,
//                user-new-submit, user-new-message, collections, collection-row, jobs, job-row,
//                job-progress
//   opt-outs:    optouts, optout-form, optout-request-id, optout-note, optout-photo, optout-submit,
//                optout-error (data-code = the server's error code, when it gave one), optout-picker,
//                optout-face-count, optout-image, optout-face-box-N (N = 0, 1, ...), optout-selected-face,
//                optout-face-submit, optout-face-cancel, optout-face-error,
//                optout-result (data-state = the removal job's state, data-pending="true"|"false",
//                data-faces-removed when done), optout-job-progress (what the job is doing, polled),
//                optout-list, optout-list-error, optout-none, optout-row (data-id, data-status =
//                "pending"|"done"), optout-request, optout-status, optout-faces-removed,
//                optout-withdraw, optout-withdraw-form (data-id; in a row of its own under its entry),
//                optout-withdraw-reason, optout-withdraw-confirm, optout-withdraw-cancel,
//                optout-withdraw-error, optout-withdrawn
//   account:     totp-status (data-enabled="true"|"false"), totp-begin, totp-secret, totp-uri,
//                totp-code, totp-confirm, totp-result (data-ok once answered), token-name,
//                token-create, token-value, token-row, token-revoke, no-tokens
// Rows carry data-id (and user rows data-username, audit rows data-seq,
// case rows data-number, token rows data-id) to find a particular one.

import { h, replace, messageBox, field } from './dom.js';
import { get, post, setCsrf, onUnauthenticated, ApiError } from './api.js';
import { pageNewSearch, pageResults, pageCandidate } from './search.js';
import { pageCases, pageCase, pageSupervisor } from './cases.js';
import { pageAudit, pageAdmin } from './admin.js';
import { pageOptOuts } from './optouts.js';
import { pageAccount, pageChangePassword } from './account.js';

const state = {
  user: null,
  wanted: '', // route to return to after sign-in
  notice: '', // shown once on the sign-in page (e.g. after a password change)
  startError: '', // the server could not be asked who we are
};

const ROLE_PAGES = {
  investigator: ['search', 'cases', 'searches'],
  supervisor: ['supervisor', 'cases', 'searches'],
  auditor: ['audit', 'cases', 'searches'],
  admin: ['admin', 'optouts', 'supervisor'],
};
// Pages every signed-in user has, whatever the role.
const COMMON_PAGES = ['account', 'password'];

// In this order; each role sees its home page first.
const NAV = [
  ['search', 'New search', '#/search'],
  ['audit', 'Audit log', '#/audit'],
  ['admin', 'Administration', '#/admin'],
  ['optouts', 'Opt-outs', '#/optouts'],
  ['supervisor', null, '#/supervisor'],
  ['cases', null, '#/cases'],
];

function navLabel(key, role) {
  if (key === 'cases') return role === 'investigator' ? 'My cases' : role === 'supervisor' ? 'Unit cases' : 'Cases';
  if (key === 'supervisor') return role === 'admin' ? 'Approvals' : 'Supervisor';
  return NAV.find(([k]) => k === key)[1];
}

function homeFor(role) {
  return { investigator: '#/search', supervisor: '#/supervisor', auditor: '#/audit', admin: '#/admin' }[role] || '#/cases';
}

function parseHash() {
  const raw = window.location.hash.replace(/^#/, '') || '/';
  const qi = raw.indexOf('?');
  const path = qi >= 0 ? raw.slice(0, qi) : raw;
  const query = new URLSearchParams(qi >= 0 ? raw.slice(qi + 1) : '');
  const parts = path.split('/').filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  return { parts, query, raw };
}

export function navigate(hash) {
  if (window.location.hash === hash) route();
  else window.location.hash = hash;
}

function renderNav() {
  const nav = document.getElementById('nav');
  if (!state.user) {
    replace(nav);
    nav.hidden = true;
    return;
  }
  nav.hidden = false;
  const role = state.user.role;
  const allowed = ROLE_PAGES[role] || [];
  const current = parseHash().parts[0] || '';
  const links = NAV.filter(([k]) => allowed.includes(k)).map(([k, , href]) =>
    h('li', null, h('a', { href, testid: `nav-${k}`, 'aria-current': current === k ? 'page' : null }, navLabel(k, role))),
  );
  replace(
    nav,
    h('ul', { class: 'nav-links' }, links),
    h(
      'div',
      { class: 'nav-user' },
      h('span', { testid: 'nav-user' }, `${state.user.display_name || state.user.username} · ${role}`),
      h(
        'a',
        { href: '#/account', class: 'nav-account', testid: 'nav-account', 'aria-current': current === 'account' ? 'page' : null },
        'Account',
      ),
      h('button', { type: 'button', class: 'btn btn-quiet', testid: 'nav-logout', onclick: logout }, 'Sign out'),
    ),
  );
}

async function logout() {
  try {
    await post('/logout', {}, { quietAuth: true });
  } catch {
    // the session may already be gone; sign out locally anyway
  }
  state.user = null;
  setCsrf('');
  renderNav();
  navigate('#/login');
}

let routeSeq = 0;

function makeCtx(main, parsed) {
  const seq = ++routeSeq;
  return {
    main,
    parts: parsed.parts,
    query: parsed.query,
    user: state.user,
    deployment: state.deployment || {},
    alive: () => seq === routeSeq,
    navigate,
    title(text) {
      document.title = `${text} — Lineup`;
    },
    // Shows an ApiError (or any error) in place of the page.
    fail(err) {
      if (seq !== routeSeq) return;
      if (err instanceof ApiError && err.status === 401) return; // handled: back to login
      if (err instanceof ApiError && err.status === 404) {
        replace(
          main,
          h('h1', { tabindex: '-1', testid: 'page-title' }, 'Not found'),
          messageBox('error', `${err.message} It may not exist, or you may not have access to it.`, 'not-found'),
        );
      } else if (err instanceof ApiError && err.status === 403) {
        replace(
          main,
          h('h1', { tabindex: '-1', testid: 'page-title' }, 'Not allowed'),
          messageBox('error', err.message, 'forbidden'),
        );
      } else {
        replace(
          main,
          h('h1', { tabindex: '-1', testid: 'page-title' }, 'Something went wrong'),
          messageBox('error', (err && err.message) || String(err), 'page-error'),
        );
      }
      focusHeading(main);
    },
  };
}

export function focusHeading(main) {
  const h1 = main.querySelector('h1');
  if (h1) {
    h1.setAttribute('tabindex', '-1');
    h1.focus({ preventScroll: true });
  }
}

async function route() {
  const main = document.getElementById('main');
  const parsed = parseHash();
  const page = parsed.parts[0] || '';

  if (!state.user && page !== 'login' && page !== 'register') {
    state.wanted = parsed.raw && parsed.raw !== '/' ? `#${parsed.raw}` : '';
    navigate('#/login');
    return;
  }
  if (state.user && (page === 'login' || page === 'register' || page === '')) {
    navigate(homeFor(state.user.role));
    return;
  }
  if (state.user && state.user.must_change_password && page !== 'password') {
    navigate('#/password');
    return;
  }
  renderNav();
  const ctx = makeCtx(main, parsed);
  replace(main, h('p', { class: 'loading', testid: 'loading', role: 'status' }, 'Loading…'));

  if (page === 'login') return pageLogin(ctx);
  if (page === 'register') return pageRegister(ctx);

  const allowed = [...(ROLE_PAGES[state.user.role] || []), ...COMMON_PAGES];
  const known = ['search', 'cases', 'searches', 'supervisor', 'audit', 'admin', 'optouts', 'account', 'password'];
  if (!known.includes(page)) {
    ctx.title('Not found');
    replace(main, h('h1', { testid: 'page-title' }, 'Not found'), messageBox('error', 'There is no such page.', 'not-found'));
    focusHeading(main);
    return;
  }
  if (!allowed.includes(page)) {
    ctx.title('Not allowed');
    replace(
      main,
      h('h1', { testid: 'page-title' }, 'Not allowed'),
      messageBox('error', `This page is not available to the ${state.user.role} role.`, 'forbidden'),
    );
    focusHeading(main);
    return;
  }
  try {
    if (page === 'search') await pageNewSearch(ctx);
    else if (page === 'cases' && parsed.parts[1]) await pageCase(ctx, parsed.parts[1]);
    else if (page === 'cases') await pageCases(ctx);
    else if (page === 'searches' && parsed.parts[2] === 'candidates' && parsed.parts[3])
      await pageCandidate(ctx, parsed.parts[1], parsed.parts[3]);
    else if (page === 'searches' && parsed.parts[1]) await pageResults(ctx, parsed.parts[1]);
    else if (page === 'supervisor') await pageSupervisor(ctx);
    else if (page === 'audit') await pageAudit(ctx);
    else if (page === 'admin') await pageAdmin(ctx);
    else if (page === 'optouts') await pageOptOuts(ctx);
    else if (page === 'account') await pageAccount(ctx);
    else if (page === 'password') {
      pageChangePassword(ctx, {
        forced: Boolean(state.user.must_change_password),
        onChanged: () => {
          state.user = null;
          state.wanted = '';
          state.notice = 'Password changed. Sign in with the new one.';
          navigate('#/login');
        },
      });
    }
    else ctx.fail(new ApiError(404, 'not_found', 'There is no such page.'));
  } catch (err) {
    ctx.fail(err);
  }
}

// ---- sign-in and registration ----

function pageLogin(ctx) {
  ctx.title('Sign in');
  const username = h('input', { type: 'text', name: 'username', autocomplete: 'username', required: true, testid: 'login-username' });
  const password = h('input', {
    type: 'password',
    name: 'password',
    autocomplete: 'current-password',
    required: true,
    testid: 'login-password',
  });
  const totp = h('input', {
    type: 'text',
    name: 'totp',
    inputmode: 'numeric',
    autocomplete: 'one-time-code',
    pattern: '[0-9]{6,8}',
    maxlength: '8',
    testid: 'login-totp',
  });
  const totpField = h('div', { class: 'field', hidden: true }, h('label', { for: 'login-totp' }, 'Authenticator code'), totp);
  totp.id = 'login-totp';
  const status = h('div', { 'aria-live': 'polite' });
  if (state.startError) status.appendChild(messageBox('error', state.startError, 'login-error'));
  if (state.notice) {
    status.appendChild(messageBox('ok', state.notice, 'login-notice'));
    state.notice = '';
  }
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'login-submit' }, 'Sign in');

  const form = h(
    'form',
    { class: 'card form narrow', testid: 'login-form', novalidate: true },
    h('div', { class: 'field' }, h('label', { for: 'login-username' }, 'Username'), username),
    h('div', { class: 'field' }, h('label', { for: 'login-password' }, 'Password'), password),
    totpField,
    status,
    h('div', { class: 'actions' }, submit),
    h('p', null, 'No account yet? ', h('a', { href: '#/register', testid: 'login-register-link' }, 'Request an account')),
  );
  username.id = 'login-username';
  password.id = 'login-password';

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    replace(status);
    if (!username.value || !password.value) {
      replace(status, messageBox('error', 'Enter your username and password.', 'login-error'));
      return;
    }
    const body = { username: username.value, password: password.value };
    if (!totpField.hidden && totp.value) body.totp = totp.value.trim();
    submit.disabled = true;
    try {
      const data = await post('/login', body, { quietAuth: true });
      state.user = data.user;
      state.deployment = data.deployment || {};
      setCsrf(data.csrf_token);
      const next = state.wanted && !state.wanted.startsWith('#/login') ? state.wanted : homeFor(data.user.role);
      state.wanted = '';
      navigate(next);
    } catch (err) {
      if (err.code === 'totp_required') {
        totpField.hidden = false;
        replace(status, messageBox('info', 'Enter the code from your authenticator app.', 'login-error'));
        totp.focus();
      } else {
        if (err.code === 'bad_totp') {
          totp.value = '';
          totp.focus();
        }
        replace(status, messageBox('error', err.message, 'login-error'));
      }
    } finally {
      submit.disabled = false;
    }
  });

  replace(
    ctx.main,
    h(
      'section',
      { class: 'login' },
      h('h1', { testid: 'page-title' }, 'Sign in to Lineup'),
      h('p', { class: 'lead' }, 'Every search is bound to a case and recorded. Results are investigative leads for human review, not identifications.'),
      form,
    ),
  );
  username.focus();
}

function pageRegister(ctx) {
  ctx.title('Request an account');
  const inputs = {
    username: h('input', { type: 'text', autocomplete: 'username', required: true, testid: 'register-username', id: 'reg-username' }),
    password: h('input', { type: 'password', autocomplete: 'new-password', required: true, testid: 'register-password', id: 'reg-password' }),
    repeat: h('input', { type: 'password', autocomplete: 'new-password', required: true, testid: 'register-password-repeat', id: 'reg-repeat' }),
    display_name: h('input', { type: 'text', autocomplete: 'name', required: true, testid: 'register-display-name', id: 'reg-display' }),
    unit: h('input', { type: 'text', required: true, testid: 'register-unit', id: 'reg-unit' }),
  };
  const status = h('div', { 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'register-submit' }, 'Request account');
  const form = h(
    'form',
    { class: 'card form narrow', testid: 'register-form', novalidate: true },
    field('Username', inputs.username, '2 to 64 characters: lower-case letters, digits, dot, underscore, hyphen.'),
    field('Password', inputs.password, 'At least 12 characters.'),
    h('div', { class: 'field' }, h('label', { for: 'reg-repeat' }, 'Password again'), inputs.repeat),
    h('div', { class: 'field' }, h('label', { for: 'reg-display' }, 'Full name'), inputs.display_name),
    h('div', { class: 'field' }, h('label', { for: 'reg-unit' }, 'Unit'), inputs.unit),
    status,
    h('div', { class: 'actions' }, submit, h('a', { href: '#/login', class: 'btn btn-quiet' }, 'Back to sign in')),
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    replace(status);  // an earlier error is not the answer to this try
    const body = {};
    for (const [k, el] of Object.entries(inputs)) body[k] = el.value.trim();
    body.password = inputs.password.value;
    delete body.repeat;
    if (Object.values(body).some((v) => !v)) {
      replace(status, messageBox('error', 'Fill in every field.', 'register-error'));
      return;
    }
    if (inputs.repeat.value !== inputs.password.value) {
      replace(status, messageBox('error', 'The two passwords differ: type the same password twice.', 'register-error'));
      inputs.repeat.focus();
      return;
    }
    submit.disabled = true;
    try {
      const data = await post('/register', body, { quietAuth: true });
      const unit = (data.user && data.user.unit) || body.unit;
      replace(
        form,
        messageBox(
          'ok',
          `Your request was received. A supervisor of ${unit} must approve the account before you can sign in.`,
          'register-message',
        ),
        h('p', null, h('a', { href: '#/login' }, 'Back to sign in')),
      );
    } catch (err) {
      replace(status, messageBox('error', err.message, 'register-error'));
      submit.disabled = false;
    }
  });
  replace(ctx.main, h('section', { class: 'login' }, h('h1', { testid: 'page-title' }, 'Request an account'), form));
  inputs.username.focus();
}

// ---- start ----

onUnauthenticated(() => {
  if (!state.user) return;
  state.user = null;
  setCsrf('');
  const cur = parseHash();
  state.wanted = cur.raw && cur.raw !== '/' ? `#${cur.raw}` : '';
  renderNav();
  navigate('#/login');
});

async function start() {
  document.getElementById('skip-link').addEventListener('click', (ev) => {
    ev.preventDefault(); // the hash is the route; move focus instead
    const main = document.getElementById('main');
    (main.querySelector('h1') || main).focus();
  });
  try {
    const me = await get('/me', { quietAuth: true });
    state.user = me.user;
    state.deployment = me.deployment || {};
    setCsrf(me.csrf_token);
  } catch (err) {
    state.user = null;
    if (!(err instanceof ApiError) || (err.status !== 401 && err.status !== 403)) {
      // server unreachable or failing: say so on the sign-in page
      state.startError = err.message;
    }
  }
  window.addEventListener('hashchange', route);
  route();
}

start();
