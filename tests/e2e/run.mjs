#!/usr/bin/env node
// Browser tests of the Lineup web app against a running `lineup serve`.
//
// Uses playwright-core only (no test framework, no browser download) and the
// system Chromium. Environment:
//   LINEUP_URL        base URL of the server, e.g. http://127.0.0.1:8080
//   LINEUP_E2E_USERS  JSON file {"admin": {"username","password"[, "unit"]}, "supervisor": {...},
//                     "investigator": {...}, "investigator2": {...}, "auditor": {...}}
//   LINEUP_E2E_PHOTO  a group photo with several faces
//   LINEUP_E2E_OUT    folder for screenshots (created)
//   PLAYWRIGHT_CORE   path of the playwright-core package (default: resolve 'playwright-core')
//   CHROMIUM          browser executable (default /usr/bin/chromium)
//   LINEUP_E2E_TIMEOUT  ms for slow steps (upload + detection, search); default 120000
// Scenarios (each in a fresh browser context, sharing the case of scenario 1):
//   1 investigator: case (purpose with <script>), photo, >= 2 face boxes, face 1, search,
//     results, candidate provenance, decision possible_match kept after reload
//   2 the same on a 360x740 touch phone, through the results grid and a candidate
//   3 auditor: audit log filtered by the case number shows its search; chain verifies; exports
//   4 investigator2: the case and its search are not found, GET /api/v1/cases/<id> is 404
//   5 supervisor: the unit's recent searches list scenario 1's search; read-only candidate
//   6 an account request (POST /register) approved by the supervisor, then its first sign-in
//   7 admin: users, collections, ingest jobs; search and audit pages refused
// Screenshots: LINEUP_E2E_OUT/NN-<scenario>-<step>.png (and -FAILED.png on failure).
// Prints TAP-like lines (`ok - name`, `not ok - name: reason`), then
// "N passed, N failed"; exits 1 if any scenario failed.

import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const require = createRequire(import.meta.url);

function env(name, fallback) {
  const v = process.env[name];
  if (v === undefined || v === '') {
    if (fallback !== undefined) return fallback;
    console.error(`run.mjs: set ${name}`);
    process.exit(2);
  }
  return v;
}

const BASE = env('LINEUP_URL').replace(/\/+$/, '');
const USERS = JSON.parse(fs.readFileSync(env('LINEUP_E2E_USERS'), 'utf8'));
const PHOTO = path.resolve(env('LINEUP_E2E_PHOTO'));
const OUT = path.resolve(env('LINEUP_E2E_OUT'));
const SLOW = Number(env('LINEUP_E2E_TIMEOUT', '120000'));
const CHROMIUM = env('CHROMIUM', '/usr/bin/chromium');
const { chromium } = require(env('PLAYWRIGHT_CORE', 'playwright-core'));

fs.mkdirSync(OUT, { recursive: true });
if (!fs.existsSync(PHOTO)) {
  console.error(`run.mjs: no photo at ${PHOTO}`);
  process.exit(2);
}
for (const role of ['supervisor', 'investigator', 'investigator2', 'auditor']) {
  if (!USERS[role] || !USERS[role].username || !USERS[role].password) {
    console.error(`run.mjs: ${env('LINEUP_E2E_USERS')} lacks "${role}": {"username", "password"}`);
    process.exit(2);
  }
}

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// Data passed from scenario to scenario.
const shared = {
  suffix: `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`,
  caseId: null,
  caseNumber: null,
  searchId: null,
};
const PURPOSE = 'E2E check of escaping: <script>alert(1)</script> & "quotes" — not a real case';

// Console errors that are expected: the app asks GET /me before sign-in
// (401), and Chromium logs every non-2xx fetch as a console error.
const ALWAYS_ALLOWED = [/Failed to load resource: the server responded with a status of 401/];

let shotSeq = 0;
let passed = 0;
let failed = 0;
let tmpRoot;

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

async function shot(page, scenario, step) {
  shotSeq += 1;
  const file = path.join(OUT, `${String(shotSeq).padStart(2, '0')}-${scenario}-${step}.png`);
  try {
    await page.screenshot({ path: file, fullPage: true });
  } catch (e) {
    console.log(`# screenshot ${file} failed: ${e.message}`);
  }
}

// The navigation each role must see (and nothing else).
const NAV_OF = {
  investigator: ['nav-search', 'nav-cases'],
  supervisor: ['nav-supervisor', 'nav-cases'],
  auditor: ['nav-audit', 'nav-cases'],
  admin: ['nav-admin', 'nav-supervisor'],
};
const ALL_NAV = ['nav-search', 'nav-cases', 'nav-supervisor', 'nav-audit', 'nav-admin'];

// Signs in through the form; `who` is a key of the users file, or {username, password, role}.
// Waits and retries while the server rate-limits logins (10 a minute per address by default).
async function login(page, who) {
  const u = typeof who === 'string' ? USERS[who] : who;
  const role = typeof who === 'string' ? (who.startsWith('investigator') ? 'investigator' : who) : who.role;
  for (let attempt = 0; ; attempt++) {
    await page.goto(`${BASE}/#/login`);
    await page.getByTestId('login-username').fill(u.username);
    await page.getByTestId('login-password').fill(u.password);
    await page.getByTestId('login-submit').click();
    await page.locator('[data-testid="nav-logout"], [data-testid="login-error"]').first().waitFor();
    if (await page.getByTestId('nav-logout').count()) break;
    const msg = await page.getByTestId('login-error').textContent();
    if (/too many|rate/i.test(msg) && attempt < 12) {
      await page.waitForTimeout(7000);
      continue;
    }
    throw new Error(`login as ${u.username} failed: ${msg}`);
  }
  const navUser = await page.getByTestId('nav-user').textContent();
  assert(navUser.includes(role), `signed in as "${navUser}", expected role ${role}`);
  for (const tid of ALL_NAV) {
    const want = NAV_OF[role].includes(tid);
    const have = (await page.getByTestId(tid).count()) > 0;
    assert(want === have, `${role} ${have ? 'sees' : 'lacks'} ${tid}`);
  }
}

async function logout(page) {
  await page.getByTestId('nav-logout').click();
  await page.getByTestId('login-username').waitFor();
  const status = await page.evaluate(async () => (await fetch('/api/v1/me', { credentials: 'same-origin' })).status);
  assert(status === 401, `GET /me after sign-out answered ${status}`);
}

// Runs one scenario in a fresh browser context.
async function scenario(browser, name, slug, fn, { contextOptions = {}, allowConsole = [], needs = [] } = {}) {
  for (const k of needs) {
    if (!shared[k]) {
      failed += 1;
      console.log(`not ok - ${name}: needs ${k} from an earlier scenario, which failed`);
      return;
    }
  }
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: false, ...contextOptions });
  context.setDefaultTimeout(20000);
  const page = await context.newPage();
  const problems = [];
  const dialogs = [];
  const allowed = [...ALWAYS_ALLOWED, ...allowConsole];
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    if (allowed.some((re) => re.test(text))) return;
    const loc = msg.location();
    problems.push(`console error: ${text}${loc && loc.url ? ` (${loc.url})` : ''}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('dialog', (d) => {
    dialogs.push(`${d.type()}: ${d.message()}`);
    d.dismiss().catch(() => {});
  });
  try {
    await fn(page, (step) => shot(page, slug, step));
    assert(dialogs.length === 0, `a dialog fired: ${dialogs.join('; ')}`);
    assert(problems.length === 0, problems.join('; '));
    passed += 1;
    console.log(`ok - ${name}`);
  } catch (e) {
    failed += 1;
    await shot(page, slug, 'FAILED');
    const reason = String((e && e.message) || e).split('\n')[0];
    console.log(`not ok - ${name}: ${reason}`);
    const extra = [...problems, ...dialogs.map((d) => `dialog ${d}`)];
    for (const p of extra) console.log(`#   ${p}`);
    if (e && e.stack) console.log(`#   ${e.stack.split('\n').slice(1, 4).join(' | ').trim()}`);
  } finally {
    await context.close().catch(() => {});
  }
}

// Case form → photo → faces → pick `faceIndex` → results grid. Returns the search id.
async function createCaseAndSearch(page, snap, { number, purpose, faceIndex, tap }) {
  await page.getByTestId('case-number').fill(number);
  await page.getByTestId('case-purpose').fill(purpose);
  await page.getByTestId('case-category').selectOption('serious_crime');
  await snap('case-form');
  await page.getByTestId('case-create').click();
  const shown = page.getByTestId('case-summary-purpose');
  await shown.waitFor();
  const text = await shown.textContent();
  assert(text.includes('<script>alert(1)</script>'), `purpose not shown literally: ${JSON.stringify(text)}`);
  assert((await page.locator('[data-testid="case-summary"] script').count()) === 0, 'purpose became a <script> element');
  const caseId = await page.getByTestId('case-summary').getAttribute('data-id');
  assert(caseId, 'case summary has no data-id');
  return { caseId, searchId: await uploadAndSearch(page, snap, { faceIndex, tap }) };
}

async function uploadAndSearch(page, snap, { faceIndex, tap }) {
  await page.getByTestId('photo-input').setInputFiles(PHOTO);
  await page.getByTestId('photo-upload').click();
  await page.locator('[data-testid="face-box-0"], [data-testid="no-faces"], [data-testid="upload-error"]').first().waitFor({ timeout: SLOW });
  if (await page.getByTestId('upload-error').count()) throw new Error(`upload failed: ${await page.getByTestId('upload-error').textContent()}`);
  if (await page.getByTestId('no-faces').count()) throw new Error('the server found no face in the group photo');
  // wait until the photo is displayed, so the boxes have their size
  await page.waitForFunction(() => {
    const img = document.querySelector('[data-testid="probe-image"]');
    return img && img.complete && img.naturalWidth > 0;
  });
  const boxes = await page.locator('[data-testid^="face-box-"]').count();
  assert(boxes >= 2, `expected at least 2 face boxes, got ${boxes}`);
  const box1 = page.getByTestId(`face-box-${faceIndex}`);
  const bb = await box1.boundingBox();
  assert(bb && bb.width > 2 && bb.height > 2, 'face box has no size on screen');
  await snap('faces');
  if (tap) await box1.tap();
  else await box1.click();
  assert((await box1.getAttribute('aria-pressed')) === 'true', `face ${faceIndex} not selected after click`);
  assert((await page.getByTestId('face-box-0').getAttribute('aria-pressed')) === 'false', 'face 0 still selected');
  await page.getByTestId('search-submit').click();
  await page.locator('[data-testid="results"], [data-testid="search-error"]').first().waitFor({ timeout: SLOW });
  if (await page.getByTestId('search-error').count()) throw new Error(`search failed: ${await page.getByTestId('search-error').textContent()}`);
  const searchId = await page.getByTestId('results').getAttribute('data-id');
  await checkResults(page);
  await snap('results');
  return searchId;
}

async function checkResults(page) {
  const notice = await page.getByTestId('candidate-notice').textContent();
  assert(notice.includes('Investigative leads for human review — not identifications.'), `notice missing: ${notice}`);
  const cards = page.getByTestId('candidate-card');
  const n = await cards.count();
  if (n === 0 && (await page.getByTestId('no-candidates').count())) throw new Error('no candidate cards (is the gallery empty?)');
  assert(n >= 1, 'no candidate cards');
  const first = cards.first();
  const band = (await first.getByTestId('candidate-band').textContent()).trim();
  assert(/^(Strong|Possible|Weak|Unlikely) similarity$/.test(band), `band badge text "${band}"`);
  const coll = (await first.getByTestId('candidate-collection').textContent()).trim();
  assert(coll && coll !== '—', 'collection name missing');
  const score = (await first.getByTestId('candidate-score').textContent()).trim();
  assert(/^-?\d+\.\d\d$/.test(score), `score "${score}" is not 2 decimals`);
  const label = await first.getByTestId('candidate-label').textContent();
  assert(label.includes('not an identification'), `card label "${label}"`);
  // source links: only http(s), opened safely
  for (const a of await page.locator('[data-testid="candidate-source"][href]').all()) {
    const href = await a.getAttribute('href');
    assert(/^https?:/i.test(href), `unsafe source link ${href}`);
    assert((await a.getAttribute('rel')) === 'noopener noreferrer' && (await a.getAttribute('target')) === '_blank', 'source link lacks rel/target');
  }
}

async function main() {
  tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'lineup-e2e-'));
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS, // playwright gives the browser a fresh temporary profile (user-data dir)
    env: { ...process.env, HOME: tmpRoot },
  });
  console.log('1..7');
  console.log(`# ${BASE}, photo ${PHOTO}, screenshots in ${OUT}, browser ${browser.version()}`);

  try {
    // 1 ---------------------------------------------------------------
    await scenario(browser, 'investigator: case, photo, faces, search, candidate, decision', 'investigator', async (page, snap) => {
      await login(page, 'investigator');
      await page.getByTestId('nav-search').click();
      await page.getByTestId('case-number').waitFor();
      await snap('signed-in');
      const number = `E2E-${shared.suffix}`;
      const { caseId, searchId } = await createCaseAndSearch(page, snap, { number, purpose: PURPOSE, faceIndex: 1 });
      shared.caseId = caseId;
      shared.caseNumber = number;
      assert(searchId, 'results have no search id');
      shared.searchId = searchId;

      // candidate detail
      await page.getByTestId('candidate-open').first().click();
      await page.getByTestId('candidate-detail').waitFor();
      await page.getByTestId('provenance').waitFor();
      const coll = (await page.getByTestId('prov-collection').textContent()).trim();
      assert(coll && coll !== '—', 'provenance has no collection');
      const basis = (await page.getByTestId('prov-legal-basis').textContent()).trim();
      assert(basis.length > 0, 'provenance has no legal basis field');
      for (const a of await page.locator('[data-testid="provenance"] a').all()) {
        const href = await a.getAttribute('href');
        assert(/^https?:/i.test(href), `unsafe provenance link ${href}`);
        assert((await a.getAttribute('rel')) === 'noopener noreferrer', 'provenance link lacks rel');
      }
      await page.waitForFunction(() => {
        const img = document.querySelector('[data-testid="candidate-image"]');
        return !img || (img.complete && img.naturalWidth > 0);
      });
      await snap('candidate');

      // decision
      const note = `E2E note <b>not bold</b> ${shared.suffix}`;
      await page.getByTestId('decision-select').selectOption('possible_match');
      await page.getByTestId('decision-note').fill(note);
      await page.getByTestId('decision-submit').click();
      await page.getByTestId('decision-saved').waitFor();
      let current = await page.getByTestId('decision-current').textContent();
      assert(current.includes('Possible match') && current.includes(note), `decision not shown: ${current}`);
      await snap('decision-saved');
      // it is stored: reload the page and see it again
      await page.reload();
      await page.getByTestId('decision-current').waitFor();
      current = await page.getByTestId('decision-current').textContent();
      assert(current.includes('Possible match') && current.includes(note), `decision not kept after reload: ${current}`);
      await page.getByTestId('back-to-results').click();
      await page.getByTestId('candidate-card').first().waitFor();
      const dec = await page.getByTestId('candidate-card').first().getByTestId('candidate-decision').textContent();
      assert(dec.includes('Possible match'), `results card shows "${dec}"`);
      // the case page lists the search
      await page.getByTestId('nav-cases').click();
      await page.locator(`[data-testid="case-row"][data-id="${caseId}"]`).waitFor();
      await page.locator(`[data-testid="case-row"][data-id="${caseId}"] [data-testid="case-link"]`).click();
      await page.locator(`[data-testid="search-row"][data-id="${searchId}"]`).waitFor();
      const purposeText = await page.getByTestId('case-purpose-text').textContent();
      assert(purposeText === PURPOSE, `case page purpose ${JSON.stringify(purposeText)}`);
      await snap('case');
    });

    // 2 ---------------------------------------------------------------
    await scenario(
      browser,
      'investigator on a phone (360x740): sign-in, search, results grid',
      'phone',
      async (page, snap) => {
        await login(page, 'investigator');
        await snap('signed-in');
        const fits = async (where) => {
          const w = await page.evaluate(() => document.documentElement.scrollWidth);
          assert(w <= 361, `${where}: page is ${w}px wide on a 360px screen`);
        };
        await fits('new search');
        if (shared.caseId) {
          await page.goto(`${BASE}/#/search?case=${encodeURIComponent(shared.caseId)}`);
          await page.getByTestId('photo-input').waitFor();
          await uploadAndSearch(page, snap, { faceIndex: 1, tap: true });
        } else {
          await createCaseAndSearch(page, snap, { number: `E2E-M-${shared.suffix}`, purpose: PURPOSE, faceIndex: 1, tap: true });
        }
        await fits('results');
        const cards = await page.getByTestId('candidate-card').all();
        if (cards.length >= 2) {
          const a = await cards[0].boundingBox();
          const b = await cards[1].boundingBox();
          assert(a.x + a.width <= 360 && b.x + b.width <= 360, 'cards overflow the screen');
        }
        await page.getByTestId('candidate-open').first().tap();
        await page.getByTestId('provenance').waitFor();
        await fits('candidate');
        await snap('candidate');
      },
      { contextOptions: { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 } },
    );

    // 3 ---------------------------------------------------------------
    await scenario(
      browser,
      'auditor: finds the search in the audit log and verifies the chain',
      'auditor',
      async (page, snap) => {
        await login(page, 'auditor');
        await page.getByTestId('nav-audit').click();
        await page.getByTestId('audit-filter-case').fill(shared.caseNumber);
        await page.getByTestId('audit-apply').click();
        await page.locator('[data-testid="audit-row"], [data-testid="audit-none"]').first().waitFor();
        await page.waitForFunction(
          (n) => decodeURIComponent(location.hash).includes(`case=${n}`) && document.querySelector('[data-testid="audit-row"], [data-testid="audit-none"]'),
          shared.caseNumber,
        );
        const rows = page.getByTestId('audit-row');
        const n = await rows.count();
        assert(n >= 1, `no audit records for case ${shared.caseNumber}`);
        let searchRows = 0;
        for (const r of await rows.all()) {
          const t = await r.textContent();
          assert(t.includes(shared.caseNumber), `a filtered row is of another case: ${t.slice(0, 120)}`);
          if ((await r.getAttribute('data-action')) === 'search') searchRows += 1;
        }
        assert(searchRows >= 1, `no "search" record among ${n} records of the case`);
        await snap('filtered');
        await page.getByTestId('audit-verify').click();
        await page.locator('[data-testid="audit-verify-result"][data-ok]').waitFor({ timeout: SLOW });
        const ok = await page.getByTestId('audit-verify-result').getAttribute('data-ok');
        const text = await page.getByTestId('audit-verify-result').textContent();
        assert(ok === 'true', `chain verification: ${text}`);
        await snap('verified');
        // export links carry the filter and answer 200
        for (const [tid, fmt] of [
          ['audit-export-csv', 'csv'],
          ['audit-export-jsonl', 'jsonl'],
        ]) {
          const href = await page.getByTestId(tid).getAttribute('href');
          const u = new URL(href, BASE);
          assert(u.searchParams.get('format') === fmt && u.searchParams.get('case') === shared.caseNumber, `${tid} href ${href}`);
          const res = await page.evaluate(async (h) => {
            const r = await fetch(h, { credentials: 'same-origin' });
            return { status: r.status, body: await r.text() };
          }, href);
          assert(res.status === 200, `${fmt} export answered ${res.status}`);
          assert(res.body.includes(shared.caseNumber), `${fmt} export lacks the case number`);
        }
      },
      { needs: ['caseNumber'] },
    );

    // 4 ---------------------------------------------------------------
    await scenario(
      browser,
      "investigator2 cannot open investigator's case",
      'other-investigator',
      async (page, snap) => {
        await login(page, 'investigator2');
        await page.goto(`${BASE}/#/cases/${encodeURIComponent(shared.caseId)}`);
        await page.locator('[data-testid="not-found"], [data-testid="forbidden"], [data-testid="case-detail"]').first().waitFor();
        assert((await page.getByTestId('case-detail').count()) === 0, 'the case page opened');
        const body = await page.locator('main').textContent();
        assert(!body.includes(shared.caseNumber), 'the case number is shown');
        await snap('case-refused');
        if (shared.searchId) {
          await page.goto(`${BASE}/#/searches/${encodeURIComponent(shared.searchId)}`);
          await page.locator('[data-testid="not-found"], [data-testid="forbidden"], [data-testid="results"]').first().waitFor();
          assert((await page.getByTestId('results').count()) === 0, 'the search results opened');
          await snap('search-refused');
        }
        const status = await page.evaluate(async (id) => {
          const r = await fetch(`/api/v1/cases/${encodeURIComponent(id)}`, { credentials: 'same-origin' });
          return r.status;
        }, shared.caseId);
        assert(status === 404, `GET /api/v1/cases/${shared.caseId} answered ${status}, expected 404`);
        const listed = await page.evaluate(async () => {
          const r = await fetch('/api/v1/cases', { credentials: 'same-origin' });
          return (await r.json()).cases.map((c) => String(c.id));
        });
        assert(!listed.includes(String(shared.caseId)), 'the case is in investigator2\'s case list');
      },
      { needs: ['caseId'], allowConsole: [/Failed to load resource: the server responded with a status of 404/] },
    );

    // 5 ---------------------------------------------------------------
    const supUnit = USERS.supervisor.unit;
    const invUnit = USERS.investigator.unit;
    if (supUnit && invUnit && supUnit !== invUnit) {
      passed += 1;
      console.log(`ok - supervisor sees the unit's recent searches # SKIP supervisor (${supUnit}) and investigator (${invUnit}) are in different units`);
    } else {
      await scenario(
        browser,
        "supervisor sees the unit's recent searches",
        'supervisor',
        async (page, snap) => {
          await login(page, 'supervisor');
          await page.getByTestId('nav-supervisor').click();
          const row = page.locator(`[data-testid="unit-search-row"][data-case-number="${shared.caseNumber.replace(/"/g, '\\"')}"]`);
          await row.first().waitFor();
          if (shared.searchId) {
            assert((await page.locator(`[data-testid="unit-search-row"][data-id="${shared.searchId}"]`).count()) === 1, 'the search of scenario 1 is not listed');
          }
          await page.getByTestId('approvals').waitFor();
          await snap('queue');
          // read-only: the results open, without a decision form
          const mine = shared.searchId ? page.locator(`[data-testid="unit-search-row"][data-id="${shared.searchId}"]`) : row.first();
          await mine.locator('a', { hasText: 'Results' }).click();
          await page.getByTestId('candidate-card').first().waitFor();
          await page.getByTestId('candidate-open').first().click();
          await page.getByTestId('provenance').waitFor();
          assert((await page.getByTestId('decision-form').count()) === 0, 'supervisor is offered the decision form');
          const cur = await page.getByTestId('decision-current').textContent();
          assert(cur.includes('Possible match'), `supervisor does not see the decision: ${cur}`);
          await snap('candidate');
        },
        { needs: ['caseNumber'] },
      );
    }

    // 6 ---------------------------------------------------------------
    await scenario(browser, 'account request, supervisor approval, first sign-in', 'registration', async (page, snap) => {
      const unit = USERS.supervisor.unit || USERS.investigator.unit || 'CID North';
      const reg = {
        username: `e2e_${shared.suffix.replace(/[^a-z0-9]/g, '')}`,
        password: `E2e-pass-${shared.suffix}-Long!`,
        role: 'investigator',
      };
      await page.goto(`${BASE}/#/login`);
      await page.getByTestId('login-register-link').click();
      await page.getByTestId('register-username').fill(reg.username);
      await page.getByTestId('register-password').fill(reg.password);
      await page.getByTestId('register-display-name').fill('E2E <img src=x onerror=alert(9)> Applicant');
      await page.getByTestId('register-unit').fill(unit);
      await page.getByTestId('register-submit').click();
      await page.locator('[data-testid="register-message"], [data-testid="register-error"]').first().waitFor();
      if (await page.getByTestId('register-error').count()) throw new Error(`register: ${await page.getByTestId('register-error').textContent()}`);
      const msg = await page.getByTestId('register-message').textContent();
      assert(/supervisor/i.test(msg) && /approve/i.test(msg), `register message: ${msg}`);
      await snap('requested');
      // not active yet
      await page.goto(`${BASE}/#/login`);
      await page.getByTestId('login-username').fill(reg.username);
      await page.getByTestId('login-password').fill(reg.password);
      await page.getByTestId('login-submit').click();
      await page.getByTestId('login-error').waitFor();
      assert((await page.getByTestId('nav-logout').count()) === 0, 'an unapproved account could sign in');
      // the supervisor approves
      await login(page, 'supervisor');
      await page.getByTestId('nav-supervisor').click();
      const row = page.locator(`[data-testid="approval-row"][data-username="${reg.username}"]`);
      await row.waitFor();
      assert((await row.locator('img').count()) === 0, 'display name became markup');
      await snap('pending');
      await row.getByTestId('approve-button').click();
      await row.locator('.msg-ok').waitFor();
      await snap('approved');
      await logout(page);
      await login(page, reg);
      await page.getByTestId('case-number').waitFor();
    }, { allowConsole: [/Failed to load resource: the server responded with a status of 403/] });

    // 7 ---------------------------------------------------------------
    await scenario(browser, 'admin: users, collections, ingest jobs; no search or audit pages', 'admin', async (page, snap) => {
      await login(page, 'admin');
      await page.getByTestId('nav-admin').click();
      await page.getByTestId('user-row').first().waitFor();
      for (const role of ['supervisor', 'investigator', 'investigator2', 'auditor']) {
        const name = USERS[role].username;
        assert((await page.locator(`[data-testid="user-row"][data-username="${name}"]`).count()) === 1, `user ${name} not listed`);
      }
      await page.locator('[data-testid="collections"] :is(table, .msg)').first().waitFor();
      await page.locator('[data-testid="jobs"] :is(table, .msg)').first().waitFor();
      for (const tid of ['users', 'collections', 'jobs']) {
        const err = page.locator(`[data-testid="${tid}"] .msg-error`);
        if (await err.count()) throw new Error(`${tid}: ${await err.first().textContent()}`);
      }
      await snap('admin');
      await page.goto(`${BASE}/#/audit`);
      await page.getByTestId('forbidden').waitFor();
      await page.goto(`${BASE}/#/search`);
      await page.getByTestId('forbidden').waitFor();
    });
  } finally {
    await browser.close().catch(() => {});
    fs.rmSync(tmpRoot, { recursive: true, force: true });
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.log(`not ok - e2e runner: ${(e && e.message) || e}`);
  console.log(`${passed} passed, ${failed + 1} failed`);
  if (tmpRoot) fs.rmSync(tmpRoot, { recursive: true, force: true });
  process.exit(1);
});
