// The signed-in user's own account: TOTP second factor and API tokens.
// Open to every role. Secrets and token values are shown as text only.

import { h, replace, fmtTime, messageBox, table, field } from './dom.js';
import { get, post, del } from './api.js';

const ROLE_TEXT = {
  investigator: 'Investigator',
  supervisor: 'Supervisor',
  auditor: 'Auditor',
  admin: 'Administrator',
};

// The parts of an otpauth://totp/LABEL?secret=...&issuer=... URI that an
// authenticator asks for when the key is typed in by hand.
export function parseOtpauth(uri) {
  const out = { secret: '', label: '', issuer: '', digits: '6', period: '30', algorithm: 'SHA1' };
  if (typeof uri !== 'string') return out;
  const m = /^otpauth:\/\/totp\/([^?#]*)(?:\?([^#]*))?/i.exec(uri);
  if (!m) return out;
  try {
    out.label = decodeURIComponent(m[1]);
  } catch {
    out.label = m[1];
  }
  const params = new URLSearchParams(m[2] || '');
  const secret = (params.get('secret') || '').replace(/[\s=]/g, '').toUpperCase();
  if (/^[A-Z2-7]+$/.test(secret)) out.secret = secret;
  out.issuer = params.get('issuer') || '';
  if (/^\d{1,2}$/.test(params.get('digits') || '')) out.digits = params.get('digits');
  if (/^\d{1,4}$/.test(params.get('period') || '')) out.period = params.get('period');
  if (/^SHA(1|256|512)$/i.test(params.get('algorithm') || '')) out.algorithm = params.get('algorithm').toUpperCase();
  return out;
}

// "JBSWY3DPEHPK3PXP" -> "JBSW Y3DP EHPK 3PXP"
export function groupSecret(secret) {
  return (String(secret).match(/.{1,4}/g) || []).join(' ');
}

export async function pageAccount(ctx) {
  ctx.title('Account');
  const me = await get('/me');
  if (!ctx.alive()) return;
  const user = me.user || ctx.user;

  const totpBox = h('section', { class: 'card account-section', 'aria-labelledby': 'totp-h' });
  const tokensBox = h('section', { class: 'card account-section', 'aria-labelledby': 'tok-h' });
  replace(
    ctx.main,
    h('h1', { testid: 'page-title' }, 'Account'),
    h(
      'dl',
      { class: 'kv card account-info' },
      h('dt', null, 'Name'),
      h('dd', null, user.display_name || '—'),
      h('dt', null, 'Username'),
      h('dd', null, user.username || '—'),
      h('dt', null, 'Role'),
      h('dd', null, ROLE_TEXT[user.role] || user.role || '—'),
      h('dt', null, 'Unit'),
      h('dd', null, user.unit || '—'),
      h('dt', null, 'Password'),
      h('dd', null, h('a', { href: '#/password', testid: 'password-change-link' }, 'Change password')),
    ),
    totpBox,
    tokensBox,
  );
  totpSection(ctx, totpBox, Boolean(user.totp_enabled));
  await tokensSection(ctx, tokensBox);
}

// ---- TOTP ----

function totpSection(ctx, box, enabledAtStart) {
  let enabled = enabledAtStart;
  const status = h('p', { testid: 'totp-status', class: 'totp-status' });
  const begin = h('button', { type: 'button', class: 'btn', testid: 'totp-begin' });
  const turnOff = h('button', { type: 'button', class: 'btn', testid: 'totp-disable' }, 'Turn off');
  // Replacing or removing an authenticator needs its current code or the password.
  const proof = h('input', { type: 'password', testid: 'totp-proof', autocomplete: 'current-password' });
  const proofField = field('Current authenticator code, or your password', proof, 'Needed to replace or turn off two-step sign-in.');
  const setupBox = h('div', { class: 'totp-setup' });
  const beginStatus = h('div', { 'aria-live': 'polite' });
  const proofBody = () => {
    const v = proof.value.trim();
    return /^\d{6,8}$/.test(v) ? { code: v } : { password: proof.value };
  };

  function showStatus() {
    status.dataset.enabled = enabled ? 'true' : 'false';
    replace(
      status,
      h('span', { class: `badge ${enabled ? 'badge-on' : 'badge-off'}` }, enabled ? 'On' : 'Off'),
      ' ',
      enabled
        ? 'Signing in asks for a code from your authenticator app after the password.'
        : 'Signing in needs only your password. Add an authenticator app to require a code as well.',
    );
    begin.textContent = enabled ? 'Set up a new authenticator' : 'Set up';
    proofField.hidden = !enabled;
    turnOff.hidden = !enabled;
  }
  showStatus();

  begin.addEventListener('click', async () => {
    begin.disabled = true;
    replace(beginStatus);
    try {
      const data = await post('/totp/begin', enabled ? proofBody() : {});
      proof.value = '';
      if (!ctx.alive()) return;
      const otp = parseOtpauth(data.uri);
      if (!otp.secret) throw new Error('The server sent no usable key.');
      replace(setupBox, setupPanel(data.uri, otp));
      setupBox.querySelector('[data-testid="totp-secret"]').focus();
    } catch (e) {
      replace(beginStatus, messageBox('error', e.message));
    } finally {
      begin.disabled = false;
    }
  });

  function setupPanel(uri, otp) {
    const code = h('input', {
      type: 'text',
      inputmode: 'numeric',
      autocomplete: 'one-time-code',
      pattern: '[0-9]*',
      maxlength: '8',
      testid: 'totp-code',
      class: 'code-input',
    });
    const confirm = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'totp-confirm' }, 'Turn on');
    const result = h('div', { testid: 'totp-result', 'aria-live': 'polite' });
    const form = h(
      'form',
      { class: 'form', novalidate: true },
      field('Code shown by the app', code, `${otp.digits} digits; it changes every ${otp.period} seconds.`),
      h('div', { class: 'actions' }, confirm),
      result,
    );
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const value = code.value.replace(/\s+/g, '');
      if (!/^\d{6,8}$/.test(value)) {
        result.dataset.ok = 'false';
        replace(result, messageBox('error', `Enter the ${otp.digits}-digit code from the app.`));
        code.focus();
        return;
      }
      confirm.disabled = true;
      try {
        await post('/totp/confirm', { code: value });
        if (!ctx.alive()) return;
        enabled = true;
        showStatus();
        const done = h(
          'div',
          { testid: 'totp-result', 'data-ok': 'true', tabindex: '-1' },
          messageBox('ok', 'Two-step sign-in is on. From now on, signing in asks for a code from this authenticator.'),
        );
        replace(setupBox, done);
        done.focus();
      } catch (e) {
        result.dataset.ok = 'false';
        replace(result, messageBox('error', e.message));
        code.select();
        code.focus();
      } finally {
        confirm.disabled = false;
      }
    });

    return h(
      'div',
      { class: 'totp-panel' },
      h('h3', null, 'Add Lineup to your authenticator app'),
      h(
        'ol',
        { class: 'steps' },
        h(
          'li',
          null,
          'In the app, choose to enter a set-up key by hand and type this key:',
          h('p', null, h('code', { class: 'secret', testid: 'totp-secret', tabindex: '-1' }, groupSecret(otp.secret))),
          h(
            'p',
            { class: 'hint' },
            `Account: ${otp.label || '—'}${otp.issuer ? ` · issuer ${otp.issuer}` : ''} · time-based · ${otp.digits} digits · every ${otp.period} s · ${otp.algorithm}`,
          ),
        ),
        h(
          'li',
          null,
          'Or, if the app accepts a set-up link, paste this:',
          h('p', null, h('code', { class: 'otp-uri', testid: 'totp-uri' }, uri)),
        ),
        h('li', null, 'Enter the code the app shows to turn two-step sign-in on.', form),
      ),
      h('p', { class: 'hint' }, 'Keep the key private: anyone who has it can make codes for your account.'),
    );
  }

  turnOff.addEventListener('click', async () => {
    turnOff.disabled = true;
    replace(beginStatus);
    try {
      await post('/totp/disable', proofBody());
      if (!ctx.alive()) return;
      proof.value = '';
      enabled = false;
      showStatus();
      replace(setupBox);
      replace(beginStatus, messageBox('ok', 'Two-step sign-in is off. Signing in needs only your password.'));
    } catch (e) {
      replace(beginStatus, messageBox('error', e.message));
    } finally {
      turnOff.disabled = false;
    }
  });

  replace(
    box,
    h('h2', { id: 'totp-h' }, 'Two-step sign-in (authenticator app)'),
    status,
    proofField,
    h('div', { class: 'actions' }, begin, turnOff),
    beginStatus,
    setupBox,
  );
}

// ---- API tokens ----

// On narrow screens the rows become stacked blocks (app.css), so the Revoke
// button is never scrolled out of sight.
function stacked(wrap) {
  wrap.classList.add('stacked');
  return wrap;
}

async function tokensSection(ctx, box) {
  const listBox = h('div', null, h('p', { class: 'loading', role: 'status' }, 'Loading…'));
  const newBox = h('div', { 'aria-live': 'polite' });
  const revokeBox = h('div', { 'aria-live': 'polite' });
  const name = h('input', { type: 'text', testid: 'token-name', maxlength: '100', autocomplete: 'off' });
  const scope = h(
    'select',
    { testid: 'token-scope' },
    h('option', { value: 'read' }, 'Read only: look at cases, searches and results'),
    h('option', { value: 'search' }, 'Search: also open cases, upload photos, search, record decisions'),
    h('option', { value: 'admin' }, 'Everything your account may do'),
  );
  const days = h('input', { type: 'number', testid: 'token-days', min: '1', max: '365', value: '90', inputmode: 'numeric' });
  const password = h('input', { type: 'password', testid: 'token-password', autocomplete: 'current-password' });
  const code = h('input', {
    type: 'text',
    testid: 'token-code',
    inputmode: 'numeric',
    autocomplete: 'one-time-code',
    maxlength: '8',
    class: 'code-input',
  });
  const create = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'token-create' }, 'Create token');
  const form = h(
    'form',
    { class: 'form', novalidate: true },
    field('Name of the new token', name, 'What the token is for, e.g. the program that will use it (1 to 100 characters).'),
    field('What it may do', scope, 'Give a program no more than it needs.'),
    field('Valid for (days)', days, '1 to 365 days; after that the token stops working.'),
    field('Your password', password, 'Asked again, so that an open session alone cannot make tokens.'),
    field('Authenticator code', code, 'Only if two-step sign-in is on.'),
    h('div', { class: 'actions' }, create),
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const n = name.value.trim();
    if (!n) {
      replace(newBox, messageBox('error', 'Give the token a name.'));
      name.focus();
      return;
    }
    if (!password.value) {
      replace(newBox, messageBox('error', 'Enter your password to create a token.'));
      password.focus();
      return;
    }
    create.disabled = true;
    replace(revokeBox);
    try {
      const body = { name: n, scope: scope.value, days: Number(days.value) || 90, password: password.value };
      const c = code.value.replace(/\s+/g, '');
      if (c) body.code = c;
      const data = await post('/tokens', body);
      if (!ctx.alive()) return;
      const t = data.token || {};
      name.value = '';
      password.value = '';
      code.value = '';
      replace(
        newBox,
        h(
          'div',
          { class: 'msg msg-ok token-new', role: 'status' },
          h('p', null, `Token "${t.name || n}" created (${t.scope || scope.value}, until ${fmtTime(t.expires_at)}). Its value:`),
          h('p', null, h('code', { class: 'secret token-value', testid: 'token-value' }, t.token || '')),
          h('p', { class: 'warn' }, h('strong', null, 'Copy it now: it is not shown again.'), ' Anyone who has it can act as you, within its scope, until it expires or is revoked.'),
        ),
      );
      await load();
    } catch (e) {
      replace(newBox, messageBox('error', e.message));
    } finally {
      create.disabled = false;
    }
  });

  async function load() {
    const data = await get('/tokens');
    if (!ctx.alive()) return;
    const tokens = data.tokens || [];
    replace(
      listBox,
      tokens.length
        ? stacked(table('Your API tokens', ['Name', 'May', 'Created', 'Expires', 'Last used', ''], tokens.map(tokenRow)))
        : messageBox('info', 'You have no API tokens.', 'no-tokens'),
    );
  }

  function tokenRow(t) {
    const status = h('span', { class: 'row-status', 'aria-live': 'polite' });
    const revoke = h(
      'button',
      { type: 'button', class: 'btn btn-small', testid: 'token-revoke', 'aria-label': `Revoke token ${t.name}` },
      'Revoke',
    );
    revoke.addEventListener('click', async () => {
      revoke.disabled = true;
      replace(status);
      try {
        await del(`/tokens/${encodeURIComponent(t.id)}`);
        if (!ctx.alive()) return;
        await load();
        replace(revokeBox, messageBox('ok', `Token "${t.name}" revoked; programs using it can no longer sign in with it.`));
      } catch (e) {
        replace(status, messageBox('error', e.message));
        revoke.disabled = false;
      }
    });
    return h(
      'tr',
      { testid: 'token-row', 'data-id': String(t.id) },
      h('td', { class: 'token-name' }, t.name || '—'),
      h('td', { 'data-label': 'May' }, t.scope || '—'),
      h('td', { 'data-label': 'Created' }, fmtTime(t.created_at)),
      h('td', { 'data-label': 'Expires' }, fmtTime(t.expires_at)),
      h('td', { 'data-label': 'Last used' }, t.last_used_at ? fmtTime(t.last_used_at) : 'never'),
      h('td', null, revoke, status),
    );
  }

  replace(
    box,
    h('h2', { id: 'tok-h' }, 'API tokens'),
    h(
      'p',
      { class: 'hint' },
      'For programs that use the HTTP API: send the token as "Authorization: Bearer <token>". A token acts with your account and role, within what you let it do, until it expires; changing your password revokes every token. Revoke one when it is no longer needed.',
    ),
    listBox,
    revokeBox,
    form,
    newBox,
  );
  try {
    await load();
  } catch (e) {
    if (ctx.alive()) replace(listBox, messageBox('error', e.message));
  }
}

// ---- own password ----

// The change-password form. With `forced` (a password someone else chose:
// the first admin's printed one, or a temporary one from an admin) it is the
// only page the app shows until the password is replaced. The server ends
// the sessions after a change, so the user signs in again.
export function pageChangePassword(ctx, { forced, onChanged }) {
  ctx.title('Change password');
  const current = h('input', { type: 'password', autocomplete: 'current-password', required: true, testid: 'password-current' });
  const fresh = h('input', { type: 'password', autocomplete: 'new-password', required: true, minlength: '12', testid: 'password-new' });
  const again = h('input', { type: 'password', autocomplete: 'new-password', required: true, testid: 'password-repeat' });
  const status = h('div', { 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'password-submit' }, 'Change password');
  const form = h(
    'form',
    { class: 'card', testid: 'password-form' },
    field(forced ? 'Password you were given' : 'Current password', current),
    field('New password', fresh, 'At least 12 characters. A passphrase of several words is easiest to remember.'),
    field('New password again', again),
    h('div', { class: 'actions' }, submit),
    status,
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    replace(status);
    if (fresh.value !== again.value) {
      replace(status, messageBox('error', 'The two new passwords differ.', 'password-error'));
      return;
    }
    submit.disabled = true;
    try {
      await post('/password', { current: current.value, new: fresh.value });
      onChanged();
    } catch (err) {
      replace(status, messageBox('error', err.message, 'password-error'));
      submit.disabled = false;
    }
  });
  replace(
    ctx.main,
    h('h1', { testid: 'page-title' }, 'Change password'),
    forced
      ? messageBox('info', 'Your password was set by someone else. Choose your own before going on.', 'password-forced')
      : null,
    form,
  );
  current.focus();
}
