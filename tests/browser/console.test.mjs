// The console in real headless Chromium: sign-in, tenancy, live refresh, escaping, CSRF, stop,
// the Data Catalog and S3 pages, a phone-sized viewport, and (with EPOXY_TEST_RUNTIME_PYTHON) a
// real PySpark statement from the run box with its timeline.
// Run with tests/browser/run.sh; screenshots go to target/test-artifacts/console-*.png.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "..", "..");
const bin = process.env.EPOXY_BIN || join(repo, "target", "debug", "epoxy");
const python = process.env.EPOXY_TEST_PYTHON || join(repo, "target", "test-venv", "bin", "python");
const runtimePython = process.env.EPOXY_TEST_RUNTIME_PYTHON;
const artifacts = join(repo, "target", "test-artifacts");
mkdirSync(artifacts, { recursive: true });

const ALICE = { key: "AKIAALICE00000000001", secret: "alice-secret", account: "111111111111" };
const BOB = { key: "AKIABOB0000000000002", secret: "bob-secret", account: "222222222222" };
const ROLE = "arn:aws:iam::111111111111:role/epoxy-test";

/** Starts `epoxy serve` on a free loopback port; resolves to { url, proc }. */
function startEpoxy(args) {
  const dir = mkdtempSync(join(tmpdir(), "epoxy-browser-"));
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("EPOXY_")));
  env.EPOXY_JARS_DIR = process.env.EPOXY_TEST_JARS_DIR || join(repo, "target", "test-runtime", "runtime", "jars");
  const proc = spawn(bin, ["serve", "--listen", "127.0.0.1:0", "--data-dir", join(dir, "data"), ...args(dir)], {
    env,
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((ok, fail) => {
    let out = "";
    proc.stdout.on("data", (chunk) => {
      out += chunk;
      const m = out.match(/epoxy: console at (http:\/\/\S+)\/console/);
      if (m) ok({ url: m[1], proc });
    });
    proc.on("exit", (code) => fail(new Error(`epoxy exited (${code}) before listening: ${out}`)));
  });
}

function glue(server, who, operation, args) {
  const out = execFileSync(python, [join(here, "glue.py"), server.url, who.key, who.secret, operation, JSON.stringify(args)]);
  return JSON.parse(out.toString());
}

function createSession(server, who, id, extra = {}) {
  return glue(server, who, "create_session", { Id: id, Role: ROLE, Command: { Name: "glueetl", PythonVersion: "3" }, ...extra });
}

async function shot(page, name) {
  await page.screenshot({ path: join(artifacts, `console-${name}.png`), fullPage: true });
}

async function signIn(page, server, who) {
  await page.goto(`${server.url}/console`);
  await page.waitForURL(/\/console\/signin$/);
  await page.fill("input[name=access_key_id]", who.key);
  await page.fill("input[name=secret_access_key]", who.secret);
  await page.click("button[type=submit]");
  await page.waitForURL(/\/console$/);
}

/** Whether the page's body is wider than the viewport (a phone would scroll sideways). */
async function overflowsSideways(page) {
  return page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
}

let browser;
let strict;
const uid = Math.random().toString(36).slice(2, 8);

before(async () => {
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: ["--no-sandbox"] });
  strict = await startEpoxy((dir) => {
    const file = join(dir, "accounts.toml");
    writeFileSync(
      file,
      [ALICE, BOB]
        .map((a) => `[[account]]\naccess_key_id = "${a.key}"\nsecret_access_key = "${a.secret}"\naccount_id = "${a.account}"\n`)
        .join("\n"),
    );
    return ["--runtime", "none", "--accounts", file];
  });
});

after(async () => {
  await browser?.close();
  strict?.proc.kill("SIGTERM");
});

test("a wrong secret is refused; the right one signs in to an HttpOnly, SameSite=Strict cookie", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${strict.url}/console`);
  await page.waitForURL(/signin/);
  await shot(page, "signin");
  await page.fill("input[name=access_key_id]", ALICE.key);
  await page.fill("input[name=secret_access_key]", "not-the-secret");
  await page.click("button[type=submit]");
  await page.waitForSelector("#signin-error");
  await signIn(page, strict, ALICE);
  const [cookie] = await context.cookies();
  assert.equal(cookie.name, "epoxy_console");
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, "Strict");
  assert.equal(await page.evaluate(() => document.cookie), "", "scripts cannot read the cookie");
  assert.match(await page.textContent("header"), /111111111111/);
  await context.close();
});

test("a session created with boto3 appears without reloading; another account does not see it", async () => {
  const alice = await browser.newContext();
  const page = await alice.newPage();
  await signIn(page, strict, ALICE);
  const id = `live-${uid}`;
  createSession(strict, ALICE, id, { Tags: { team: "data" } });
  const row = page.locator(`tr[data-session="${id}"]`);
  await row.waitFor({ timeout: 10_000 });
  await page.locator(`tr[data-session="${id}"] .status`, { hasText: "READY" }).waitFor();
  await shot(page, "sessions");

  // The tag filter keeps it; another tag hides it.
  await page.goto(`${strict.url}/console?tag=team%3Ddata`);
  await row.waitFor();
  await page.goto(`${strict.url}/console?tag=team%3Dother`);
  assert.equal(await row.count(), 0);

  const bob = await browser.newContext();
  const bobPage = await bob.newPage();
  await signIn(bobPage, strict, BOB);
  assert.match(await bobPage.textContent("header"), /222222222222/);
  assert.equal(await bobPage.locator(`tr[data-session="${id}"]`).count(), 0);
  const direct = await bobPage.goto(`${strict.url}/console/sessions/${id}`);
  assert.equal(direct.status(), 404);
  assert.equal((await bobPage.goto(`${strict.url}/console/sessions/${id}/sparkui/`)).status(), 404);
  // Signed out, the Spark UI proxy sends to the sign-in form like every page.
  const anonymous = await browser.newContext();
  const proxied = await anonymous.request.get(`${strict.url}/console/sessions/${id}/sparkui/jobs/`, { maxRedirects: 0 });
  assert.equal(proxied.status(), 303);
  assert.equal(proxied.headers().location, "/console/signin");
  await anonymous.close();
  await alice.close();
  await bob.close();
});

test("markup in session ids and tags is shown as text, never run", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page, strict, ALICE);
  const id = `<script>window.pwned=1</script>${uid}`;
  createSession(strict, ALICE, id, { Tags: { note: "<img src=x onerror=window.pwned=2>" } });
  const row = page.locator("tr", { hasText: id });
  await row.waitFor();
  await row.locator("a").click();
  await page.waitForSelector("#session-id");
  assert.equal(await page.textContent("#session-id"), id);
  await page.click("summary");
  await page.locator("td", { hasText: "<img src=x onerror=window.pwned=2>" }).waitFor();
  assert.equal(await page.evaluate(() => window.pwned), undefined);
  await shot(page, "escaping");
  await context.close();
});

test("a POST without the CSRF token, or from another origin, is refused; the stop button works", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page, strict, ALICE);
  const id = `stop-${uid}`;
  createSession(strict, ALICE, id);
  await page.goto(`${strict.url}/console/sessions/${id}`);
  const status = (body) =>
    page.evaluate(
      async ([url, body]) => (await fetch(url, { method: "POST", body: new URLSearchParams(body), redirect: "manual" })).status,
      [`${strict.url}/console/sessions/${id}/stop`, body],
    );
  assert.equal(await status({}), 403);
  assert.equal(await status({ csrf: "0".repeat(64) }), 403);
  // Signed out, the same token is worthless.
  const anonymous = await browser.newContext();
  const csrf = await page.inputValue("#run-box input[name=csrf]");
  const res = await anonymous.request.post(`${strict.url}/console/sessions/${id}/stop`, { form: { csrf }, maxRedirects: 0 });
  assert.equal(res.status(), 403);
  await anonymous.close();
  // The signed-in user's cookie and token, sent from another site's page: refused by Origin.
  const forged = await context.request.post(`${strict.url}/console/sessions/${id}/stop`, {
    form: { csrf },
    headers: { Origin: "http://evil.example" },
    maxRedirects: 0,
  });
  assert.equal(forged.status(), 403);
  assert.equal(await page.textContent("#session-status"), "READY", "refused posts changed nothing");

  await page.click("#stop-session");
  await page.locator("#session-status", { hasText: "STOPPED" }).waitFor();
  await shot(page, "stopped");
  assert.equal(glue(strict, ALICE, "get_session", { Id: id }).Session.Status, "STOPPED");
  await context.close();
});

test("the Data Catalog pages show a table made with boto3: columns, partition keys, partitions, view text", async () => {
  const db = `sales_${uid}`;
  glue(strict, ALICE, "create_database", { DatabaseInput: { Name: db, Description: "<b>not bold</b>" } });
  glue(strict, ALICE, "create_table", {
    DatabaseName: db,
    TableInput: {
      Name: "orders",
      TableType: "EXTERNAL_TABLE",
      StorageDescriptor: {
        Columns: [
          { Name: "order_id", Type: "bigint", Comment: "<script>window.pwned=7</script>" },
          { Name: "amount", Type: "decimal(10,2)" },
        ],
        Location: "s3://warehouse/orders/",
      },
      PartitionKeys: [{ Name: "dt", Type: "string" }],
    },
  });
  glue(strict, ALICE, "create_partition", {
    DatabaseName: db,
    TableName: "orders",
    PartitionInput: { Values: ["2026-12-01"], StorageDescriptor: { Location: "s3://warehouse/orders/dt=2026-12-01/" } },
  });
  glue(strict, ALICE, "create_table", {
    DatabaseName: db,
    TableInput: { Name: "big_orders", TableType: "VIRTUAL_VIEW", ViewOriginalText: "SELECT * FROM orders WHERE amount > 100", StorageDescriptor: { Columns: [{ Name: "order_id", Type: "bigint" }] } },
  });
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page, strict, ALICE);
  await page.click("#nav-catalog");
  await page.click(`tr[data-database="${db}"] a`);
  await page.waitForSelector("#database-name");
  assert.equal(await page.textContent("#database-name"), db);
  await page.locator("p", { hasText: "<b>not bold</b>" }).waitFor();
  await page.click(`tr[data-table="orders"] a`);
  await page.waitForSelector("#table-name");
  assert.match(await page.textContent(`#columns tr[data-column="order_id"]`), /bigint/);
  assert.match(await page.textContent(`#columns tr[data-column="amount"]`), /decimal\(10,2\)/);
  assert.match(await page.textContent(`#columns tr[data-column="order_id"]`), /<script>window.pwned=7<\/script>/);
  assert.match(await page.textContent(`#partition-keys tr[data-column="dt"]`), /string/);
  assert.match(await page.textContent("#partitions tbody"), /2026-12-01/);
  assert.equal(await page.evaluate(() => window.pwned), undefined);
  await shot(page, "catalog-table");
  await page.goto(`${strict.url}/console/catalog/${db}/big_orders`);
  assert.equal(await page.textContent("#view-original"), "SELECT * FROM orders WHERE amount > 100");

  // Another account's catalog has no such database.
  const bob = await browser.newContext();
  const bobPage = await bob.newPage();
  await signIn(bobPage, strict, BOB);
  await bobPage.goto(`${strict.url}/console/catalog`);
  assert.equal(await bobPage.locator(`tr[data-database="${db}"]`).count(), 0);
  assert.equal((await bobPage.goto(`${strict.url}/console/catalog/${db}/orders`)).status(), 404);
  await bob.close();
  await context.close();
});

test("the S3 pages list objects put with boto3: folders, paging, inert markup in keys, tenancy", async () => {
  const bucket = `console-${uid}`;
  glue(strict, ALICE, "s3.create_bucket", { Bucket: bucket });
  const markupKey = "<img src=x onerror=window.pwned=6>.txt";
  const scriptKey = "<script>window.pwned=5</script>";
  for (const key of ["data/one.csv", "data/two.csv", "top.txt", markupKey, scriptKey]) {
    glue(strict, ALICE, "s3.put_object", { Bucket: bucket, Key: key, Body: "a,b\n1,2\n" });
  }
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page, strict, ALICE);
  await page.click("#nav-s3");
  await page.click(`tr[data-bucket="${bucket}"] a`);
  await page.waitForSelector("#bucket-name");
  await page.locator("#objects tr.object", { hasText: "top.txt" }).waitFor();
  await page.locator("#objects tr.object td.key", { hasText: markupKey }).waitFor();
  await page.locator("#objects tr.folder", { hasText: "<script>window.pwned=5</" }).waitFor();
  await shot(page, "s3-bucket");
  await page.click(`#objects tr.folder a:text-is("data/")`);
  await page.locator("#objects tr.object", { hasText: "one.csv" }).waitFor();
  assert.equal(await page.locator("#objects tr.object").count(), 2);
  assert.equal(await page.locator("#objects tr.folder").count(), 0);
  // A flat listing shows the whole key as text.
  await page.goto(`${strict.url}/console/s3/${bucket}?delimiter=`);
  await page.locator("#objects tr.object td.key", { hasText: scriptKey }).waitFor();
  assert.equal(await page.locator("#objects tr.object").count(), 5);
  assert.equal(await page.evaluate(() => window.pwned), undefined);
  // Pages of two: three pages of the five keys, each key once.
  await page.goto(`${strict.url}/console/s3/${bucket}?delimiter=&limit=2`);
  const seen = [];
  for (;;) {
    seen.push(...(await page.locator("#objects tr.object td.key").allTextContents()));
    const next = page.locator("#next-page");
    if ((await next.count()) === 0) break;
    await next.click();
    await page.waitForSelector("#bucket-name");
  }
  assert.equal(seen.length, 5);
  assert.equal(new Set(seen).size, 5);
  // Odd query input is a clear 4xx (or a clamped page), never a 5xx.
  for (const [query, want] of [
    ["next=%%%", 400],
    ["next=bm90LWEtdG9rZW4", 200],
    ["limit=abc", 400],
    ["limit=0", 200],
    ["limit=99999999999999999999999", 400],
    ["prefix=%F0%9F%A6%80%00%0A&delimiter=%E2%80%A6", 200],
  ]) {
    const res = await context.request.get(`${strict.url}/console/s3/${bucket}?${query}`);
    assert.equal(res.status(), want, query);
  }
  for (const path of [`/console/catalog?next=garbage`, `/console/catalog/${"x".repeat(300)}`, `/console/s3/${"%2F".repeat(3)}`]) {
    const res = await context.request.get(`${strict.url}${path}`);
    assert.ok(res.status() >= 400 && res.status() < 500, `${path}: ${res.status()}`);
  }

  const bob = await browser.newContext();
  const bobPage = await bob.newPage();
  await signIn(bobPage, strict, BOB);
  await bobPage.goto(`${strict.url}/console/s3`);
  assert.equal(await bobPage.locator(`tr[data-bucket="${bucket}"]`).count(), 0);
  assert.equal((await bobPage.goto(`${strict.url}/console/s3/${bucket}`)).status(), 404);
  await bob.close();
  await context.close();
});

test("at a phone's viewport (390x844) the pages fit the screen's width", async () => {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  await signIn(page, strict, ALICE);
  const id = `phone-${uid}-with-a-rather-long-session-id-that-must-wrap`;
  createSession(strict, ALICE, id, { Tags: { team: "data" } });
  await page.locator(`tr[data-session="${id}"]`).waitFor({ timeout: 10_000 });
  assert.equal(await overflowsSideways(page), false, "the sessions list scrolls sideways");
  await shot(page, "phone-sessions");
  await page.click(`tr[data-session="${id}"] a`);
  await page.waitForSelector("#session-id");
  await page.waitForFunction(() => document.querySelector("#timeline")?.complete);
  assert.ok(await page.evaluate(() => document.querySelector("#timeline").naturalWidth > 0), "the timeline draws");
  assert.equal(await overflowsSideways(page), false, "the session page scrolls sideways");
  await shot(page, "phone-session");
  await page.goto(`${strict.url}/console/catalog/sales_${uid}/orders`);
  assert.equal(await overflowsSideways(page), false, "the table page scrolls sideways");
  await shot(page, "phone-catalog-table");
  await page.goto(`${strict.url}/console/s3/console-${uid}`);
  assert.equal(await overflowsSideways(page), false, "the bucket page scrolls sideways");
  await shot(page, "phone-s3-bucket");
  await context.close();
});

test("a PySpark statement runs from the run box and its result shows", { skip: !runtimePython && "EPOXY_TEST_RUNTIME_PYTHON is not set", timeout: 400_000 }, async () => {
  const spark = await startEpoxy(() => ["--python", runtimePython, "--warm-pool", "0"]);
  const open = { key: "AKIAOPEN000000000000", secret: "any" };
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${spark.url}/console`);
    const id = `spark-${uid}`;
    createSession(spark, open, id);
    await page.locator(`tr[data-session="${id}"] .status`, { hasText: "PROVISIONING" }).waitFor();
    await page.locator(`tr[data-session="${id}"] .status`, { hasText: "READY" }).waitFor({ timeout: 300_000 });
    await page.click(`tr[data-session="${id}"] a`);
    await page.fill("#run-box textarea", "spark.range(10**7).count()");
    await page.click("#run-box button[type=submit]");
    await page.locator("#statement-0 .output", { hasText: "10000000" }).waitFor({ timeout: 120_000 });
    await page.locator("#statement-0 .status", { hasText: "AVAILABLE" }).waitFor();
    await page.locator("#driver-log", { hasText: "INFO" }).waitFor({ timeout: 10_000 });
    await shot(page, "statement");
    // A statement that prints markup shows the text; the script in it never runs.
    const markup = "<script>window.pwned=3</script><img src=x onerror=window.pwned=4>";
    await page.fill("#run-box textarea", `print(${JSON.stringify(markup)})`);
    await page.click("#run-box button[type=submit]");
    await page.locator("#statement-1 .output", { hasText: markup }).waitFor({ timeout: 60_000 });
    assert.equal(await page.evaluate(() => window.pwned), undefined);

    // A slow job shows its progress bar while it runs; the cancel button ends it.
    const slow = "import time\nsc.parallelize(range(400), 40).map(lambda x: time.sleep(0.25) or x).count()";
    await page.fill("#run-box textarea", slow);
    await page.click("#run-box button[type=submit]");
    await page.locator("#statement-2 progress").waitFor({ timeout: 60_000 });
    await page.waitForFunction(() => Number(document.querySelector("#statement-2 progress")?.value) > 0, null, { timeout: 60_000 });
    await shot(page, "progress");
    await page.click("#statement-2 form button");
    await page.locator("#statement-2 .status", { hasText: "CANCELLED" }).waitFor({ timeout: 60_000 });

    // The timeline draws a bar per statement, coloured by how it ended.
    const timeline = await page.evaluate(async (url) => (await fetch(url)).text(), `/console/sessions/${id}/timeline.svg`);
    assert.match(timeline, /class="statement ok" data-id="0"/);
    assert.match(timeline, /class="statement ok" data-id="1"/);
    assert.match(timeline, /class="statement cancelled" data-id="2"/);
    await page.waitForFunction(() => document.querySelector("#timeline")?.complete && document.querySelector("#timeline").naturalWidth > 0);

    // The live Spark UI through the proxy: every tab, links staying under the prefix.
    const sessionUrl = page.url();
    const prefix = `/console/sessions/${id}/sparkui`;
    await page.click("#spark-ui");
    await page.waitForURL(new RegExp(`${prefix}/jobs/$`));
    await page.getByText("Completed Jobs").first().waitFor();
    await shot(page, "sparkui-jobs");
    for (const [tab, heading] of [["stages", "Stages for All Jobs"], ["SQL", "Completed Queries"], ["executors", "Executors"], ["environment", "Environment"]]) {
      const link = page.locator(`nav a[href^="${prefix}/${tab}/"], ul.nav a[href^="${prefix}/${tab}/"]`).first();
      await link.click();
      await page.waitForURL(new RegExp(`${prefix}/${tab}/`));
      await page.getByText(heading).first().waitFor();
    }
    await page.goto(sessionUrl);
    await page.click("#stop-session");
    await page.locator("#session-status", { hasText: "STOPPED" }).waitFor({ timeout: 60_000 });
    await context.close();
  } finally {
    spark.proc.kill("SIGTERM");
  }
});
