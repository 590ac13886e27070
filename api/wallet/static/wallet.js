// Yuanshi wallet page: plain JavaScript, no build step, no third-party code.
// Amounts arrive as decimal strings of base units and are handled as BigInt only; Numbers are used for
// drawing (pixel positions), never for the figures shown to the owner.
"use strict";

(() => {
  const UNIT_DECIMALS = 18;
  const SLOTS_PER_EPOCH = 144;
  const SLOTS_PER_ERA = 1461n * 144n;
  const UNIT = 10n ** 18n;
  const POOLS = { driving: 210000000n * UNIT, cocreation: 90000000n * UNIT };
  const ERAS_SHOWN = 8;
  const UNLIMITED_STOCK = 2n ** 64n - 1n;
  const MAX_DROP_ROWS = 300;
  const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
  const STORE_LANG = "yuanshi.wallet.lang";
  const STORE_ACCOUNT = "yuanshi.wallet.account";
  const SVG_NS = "http://www.w3.org/2000/svg";

  const STRINGS = {
    zh: {
      docTitle: "原石钱包",
      skip: "跳到主要内容",
      title: "原石钱包",
      tagline: "你的数据，你的原石：余额、可领取与收益来源",
      switchTo: "English",
      switchLabel: "Switch to English",
      accountHeading: "账户",
      addressLabel: "账户地址",
      load: "查看",
      connect: "连接钱包",
      addressHelp: "输入你的账户地址即可查看与领取；下单与回购需要钱包签名。",
      summaryHeading: "原石",
      balance: "余额",
      claimable: "可领取",
      pending: "待结算",
      claimed: "已领取累计",
      stones: "原石",
      claimButton: "领取原石",
      earningsHeading: "每个结算日的收益",
      driving: "驾驶",
      cocreation: "共创",
      asTable: "以表格查看",
      whyHeading: "收益从何而来",
      whyHelp: "驾驶：每 10 分钟一次随机掉落，按车辆过去 720 小时的有效里程加权。共创：按任务积分分配当日共创池。",
      catalogueHeading: "兑换升级",
      ordersHeading: "我的订单",
      equityHeading: "股权价值与回购",
      roundsHeading: "股权价值分配轮次",
      buybacksHeading: "回购窗口",
      emissionHeading: "产出曲线",
      emissionHelp: "总量 3 亿原石：驾驶池 70%，共创池 30%。每四年（一个纪元）产出减半。",
      footer: "金额以链上整数计（18 位小数）；页面只读写本服务的 /v1 接口。",
      loading: "正在加载账户…",
      loaded: "已加载账户 {account}",
      badAddress: "请输入有效的账户地址：0x 开头，后接 40 位十六进制字符。",
      claimableEpoch: "截至第 {epoch} 个结算日",
      nothingClaimable: "暂无可领取",
      pendingEpochs: "结算日 {epochs}，挑战期结束后可领取",
      claimHelpNone: "没有可领取的原石。",
      claimHelpRelayed: "由服务代付手续费，原石直接发到该账户，无需签名。",
      claiming: "正在领取…",
      claimDone: "已领取 {amount} 原石（交易 {tx}，区块 {block}）。",
      epoch: "结算日",
      epochN: "第 {n} 个结算日",
      total: "合计",
      noHistory: "最近 30 个结算日没有收益记录。",
      chartTitle: "每个结算日的收益：驾驶与共创",
      state_open: "进行中",
      state_final: "已确认",
      state_posted: "挑战期中",
      state_other: "结算中（{state}）",
      drops: "掉落",
      dropsByCar: "按车辆汇总的掉落",
      allDrops: "全部掉落（{n} 次）",
      car: "车辆",
      slot: "时段",
      time: "时间（UTC）",
      count: "次数",
      shares: "份额",
      amount: "原石",
      tasks: "共创任务",
      task: "任务",
      completions: "完成次数",
      points: "积分",
      noDrops: "本结算日没有驾驶掉落。",
      noTasks: "本结算日没有共创任务。",
      moreDrops: "仅显示前 {n} 条。",
      era: "纪元",
      eraN: "纪元 {n}",
      now: "现在",
      halving: "减半",
      yearN: "第 {n} 年",
      curveTitle: "累计产出曲线（两池合计），减半与当前位置",
      curveTotal: "合计",
      factEra: "当前纪元",
      factDrop: "每次驾驶掉落",
      factCocreate: "每个时段共创产出",
      factNextHalving: "下次减半",
      factEmitted: "{pool}池已结算 / 计划可产出",
      factSupply: "流通量（已领取减已销毁）",
      factEpochs: "已上链结算日",
      notStarted: "尚未开始",
      emissionUnavailable: "产出数据暂不可用：{msg}",
      item: "项目",
      price: "价格（原石）",
      stock: "库存",
      unlimited: "不限",
      order: "兑换",
      noItems: "目前没有可兑换的升级。",
      unverified: "未验证",
      noOrders: "还没有订单。",
      orderId: "订单",
      status: "状态",
      created: "下单时间（UTC）",
      status_escrowed: "已托管",
      status_fulfilled: "已交付",
      status_cancelled: "已取消（已退回）",
      signNoWallet: "下单与卖回需要账户所有者的 EIP-712 签名。本浏览器没有钱包，因此这些按钮不可用；领取无需签名。",
      signConnect: "下单与卖回需要账户所有者的签名：请先连接钱包。",
      signOther: "已连接的钱包 {signer} 不是所查看的账户，不能替它签名。",
      signReady: "已连接钱包 {signer}：下单与卖回会请求你的签名。",
      walletConnected: "已连接钱包 {signer}",
      insufficient: "余额不足",
      outOfStock: "无库存",
      ordering: "正在请求签名并下单…",
      orderDone: "已下单 #{id}：{amount} 原石已托管（交易 {tx}）。",
      round: "轮次",
      recordDate: "登记日（UTC）",
      funding: "分配总额（{cur}）",
      deadline: "领取截止（UTC）",
      yourPayout: "你的分配（{cur}）",
      claimRound: "领取",
      claimedBadge: "已领取",
      notEligible: "登记日无持仓",
      notYet: "尚未开放",
      expired: "已截止",
      noRounds: "还没有股权价值分配轮次。",
      roundClaimDone: "已领取第 {id} 轮：{amount} {cur}（交易 {tx}）。",
      buyback: "回购",
      window: "窗口（UTC）",
      pricePerStone: "每枚原石（{cur}）",
      bought: "已回购 / 额度（原石）",
      sell: "卖回",
      sellAmount: "卖回数量（原石）",
      openNow: "开放中",
      closed: "已关闭",
      notOpen: "未开放",
      noBuybacks: "还没有回购窗口。",
      selling: "正在请求签名并卖回…",
      sellDone: "已卖回 {stones} 原石，获得 {payout} {cur}（交易 {tx}）。",
      badAmount: "请输入大于 0 的原石数量（最多 18 位小数）。",
      sectionUnavailable: "暂不可用：{msg}",
      networkError: "无法连接服务：{msg}",
      httpError: "请求失败（HTTP {status}）",
      walletRejected: "钱包未签名：{msg}",
    },
    en: {
      docTitle: "Yuanshi wallet",
      skip: "Skip to main content",
      title: "Yuanshi wallet",
      tagline: "Your data, your stones: balance, claimable and where they came from",
      switchTo: "中文",
      switchLabel: "切换到中文",
      accountHeading: "Account",
      addressLabel: "Account address",
      load: "Show",
      connect: "Connect wallet",
      addressHelp: "Enter your account address to view and claim; orders and sell-backs need a wallet signature.",
      summaryHeading: "Stones",
      balance: "Balance",
      claimable: "Claimable",
      pending: "Pending",
      claimed: "Claimed so far",
      stones: "stones",
      claimButton: "Claim stones",
      earningsHeading: "Earnings per epoch",
      driving: "Driving",
      cocreation: "Co-creation",
      asTable: "Show as a table",
      whyHeading: "Why you earned",
      whyHelp: "Driving: a random drop every 10 minutes, weighted by each car's valid mileage over the past 720 hours. Co-creation: the day's co-creation pool split by task points.",
      catalogueHeading: "Upgrades",
      ordersHeading: "My orders",
      equityHeading: "Equity value and buy-backs",
      roundsHeading: "Equity-value rounds",
      buybacksHeading: "Buy-back windows",
      emissionHeading: "Emission curve",
      emissionHelp: "300 million stones in all: 70% driving, 30% co-creation. Output halves every four years (one era).",
      footer: "Amounts are on-chain integers (18 decimals); this page only uses this service's /v1 endpoints.",
      loading: "Loading the account…",
      loaded: "Loaded account {account}",
      badAddress: "Enter a valid account address: 0x followed by 40 hexadecimal characters.",
      claimableEpoch: "up to epoch {epoch}",
      nothingClaimable: "nothing to claim yet",
      pendingEpochs: "epochs {epochs}, claimable after the challenge window",
      claimHelpNone: "There is nothing to claim.",
      claimHelpRelayed: "Relayed: the service pays the gas and the stones go straight to this account; no signature needed.",
      claiming: "Claiming…",
      claimDone: "Claimed {amount} stones (tx {tx}, block {block}).",
      epoch: "Epoch",
      epochN: "Epoch {n}",
      total: "Total",
      noHistory: "No earnings in the last 30 epochs.",
      chartTitle: "Earnings per epoch: driving and co-creation",
      state_open: "open",
      state_final: "final",
      state_posted: "in challenge window",
      state_other: "settling ({state})",
      drops: "Drops",
      dropsByCar: "Drops by car",
      allDrops: "All drops ({n})",
      car: "Car",
      slot: "Slot",
      time: "Time (UTC)",
      count: "Drops",
      shares: "Shares",
      amount: "Stones",
      tasks: "Co-creation tasks",
      task: "Task",
      completions: "Completions",
      points: "Points",
      noDrops: "No driving drops this epoch.",
      noTasks: "No co-creation tasks this epoch.",
      moreDrops: "Showing the first {n}.",
      era: "Era",
      eraN: "Era {n}",
      now: "now",
      halving: "halving",
      yearN: "year {n}",
      curveTitle: "Cumulative emission (both pools), halvings and now",
      curveTotal: "Total",
      factEra: "Current era",
      factDrop: "Per driving drop",
      factCocreate: "Co-creation per slot",
      factNextHalving: "Next halving",
      factEmitted: "{pool} settled / scheduled",
      factSupply: "Supply (claimed minus burned)",
      factEpochs: "Epochs posted on chain",
      notStarted: "not started",
      emissionUnavailable: "Emission data unavailable: {msg}",
      item: "Item",
      price: "Price (stones)",
      stock: "Stock",
      unlimited: "unlimited",
      order: "Order",
      noItems: "No upgrades are listed right now.",
      unverified: "unverified",
      noOrders: "No orders yet.",
      orderId: "Order",
      status: "Status",
      created: "Placed (UTC)",
      status_escrowed: "escrowed",
      status_fulfilled: "fulfilled",
      status_cancelled: "cancelled (refunded)",
      signNoWallet: "Orders and sell-backs need the owner's EIP-712 signature. This browser has no wallet, so those buttons are disabled; claiming needs no signature.",
      signConnect: "Orders and sell-backs need the owner's signature: connect your wallet first.",
      signOther: "The connected wallet {signer} is not the account shown; it cannot sign for it.",
      signReady: "Wallet {signer} connected: orders and sell-backs will ask for your signature.",
      walletConnected: "Wallet {signer} connected",
      insufficient: "balance too low",
      outOfStock: "out of stock",
      ordering: "Asking for the signature and ordering…",
      orderDone: "Order #{id} placed: {amount} stones escrowed (tx {tx}).",
      round: "Round",
      recordDate: "Record date (UTC)",
      funding: "Funding ({cur})",
      deadline: "Claim deadline (UTC)",
      yourPayout: "Your payout ({cur})",
      claimRound: "Claim",
      claimedBadge: "claimed",
      notEligible: "no stones at record date",
      notYet: "not open yet",
      expired: "expired",
      noRounds: "No equity-value rounds yet.",
      roundClaimDone: "Claimed round {id}: {amount} {cur} (tx {tx}).",
      buyback: "Buy-back",
      window: "Window (UTC)",
      pricePerStone: "Per stone ({cur})",
      bought: "Bought / budget (stones)",
      sell: "Sell back",
      sellAmount: "Stones to sell",
      openNow: "open",
      closed: "closed",
      notOpen: "not open",
      noBuybacks: "No buy-back windows yet.",
      selling: "Asking for the signature and selling…",
      sellDone: "Sold {stones} stones for {payout} {cur} (tx {tx}).",
      badAmount: "Enter a number of stones above 0 (at most 18 decimals).",
      sectionUnavailable: "Unavailable: {msg}",
      networkError: "Cannot reach the service: {msg}",
      httpError: "Request failed (HTTP {status})",
      walletRejected: "The wallet did not sign: {msg}",
    },
  };

  const state = {
    lang: "zh",
    address: null,
    account: null,
    emission: null,
    emissionError: null,
    catalogue: null,
    orders: null,
    rounds: null,
    roundClaims: {},
    buybacks: null,
    // The settlement token equity rounds and buy-backs pay in, as GET /v1/equity names it: {symbol, decimals}.
    settlement: null,
    errors: {},
    signer: null,
  };

  // ---------- helpers ----------

  const $ = (id) => document.getElementById(id);

  function t(key, vars) {
    const table = STRINGS[state.lang] || STRINGS.zh;
    let text = key in table ? table[key] : STRINGS.zh[key] || key;
    if (vars) {
      for (const [name, value] of Object.entries(vars)) text = text.split("{" + name + "}").join(String(value));
    }
    return text;
  }

  function store(key, value) {
    try {
      window.localStorage.setItem(key, value);
    } catch (_) {
      /* storage may be disabled: the page still works */
    }
  }

  function recall(key) {
    try {
      return window.localStorage.getItem(key);
    } catch (_) {
      return null;
    }
  }

  function group(digits) {
    return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }

  // "1234567890000000000000" -> "1,234.5678": grouped integer part, at most `places` fraction digits
  // (truncated, trailing zeros dropped). BigInt arithmetic only.
  function formatUnits(value, decimals = UNIT_DECIMALS, places = 4) {
    let n = BigInt(value);
    const negative = n < 0n;
    if (negative) n = -n;
    const base = 10n ** BigInt(decimals);
    const whole = n / base;
    let fraction = (n % base).toString().padStart(decimals, "0").slice(0, places).replace(/0+$/, "");
    const text = group(whole.toString()) + (fraction ? "." + fraction : "");
    return negative ? "-" + text : text;
  }

  function exactUnits(value, decimals = UNIT_DECIMALS) {
    const n = BigInt(value);
    const base = 10n ** BigInt(decimals);
    const fraction = (n % base).toString().padStart(decimals, "0").replace(/0+$/, "");
    return group((n / base).toString()) + (fraction ? "." + fraction : "");
  }

  // "12.5" -> 12500000000000000000n; refuses signs, exponents and excess decimals.
  function parseUnits(text, decimals = UNIT_DECIMALS) {
    const clean = String(text).trim().replace(/,/g, "");
    const match = /^(\d+)(?:\.(\d*))?$/.exec(clean);
    if (!match || (match[2] || "").length > decimals) return null;
    const fraction = (match[2] || "").padEnd(decimals, "0");
    return BigInt(match[1]) * 10n ** BigInt(decimals) + BigInt(fraction || "0");
  }

  // For drawing only: base units -> whole stones as a Number.
  function toNumber(value, decimals = UNIT_DECIMALS) {
    const n = BigInt(value);
    const base = 10n ** BigInt(decimals);
    return Number(n / base) + Number(n % base) / Number(base);
  }

  function locale() {
    return state.lang === "zh" ? "zh-CN" : "en-GB";
  }

  function when(seconds, withTime = true) {
    const options = withTime
      ? { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", timeZone: "UTC", hour12: false }
      : { year: "numeric", month: "2-digit", day: "2-digit", timeZone: "UTC" };
    return new Intl.DateTimeFormat(locale(), options).format(new Date(Number(seconds) * 1000));
  }

  function short(hex) {
    return hex && hex.length > 14 ? hex.slice(0, 8) + "…" + hex.slice(-6) : hex;
  }

  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function s(tag, attrs, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (name === "text") node.textContent = value;
      else node.setAttribute(name, String(value));
    }
    for (const child of children.flat()) if (child) node.append(child);
    return node;
  }

  function amountSpan(value, decimals = UNIT_DECIMALS) {
    return h("span", { class: "amount-inline", "data-base-units": value, title: exactUnits(value, decimals) }, formatUnits(value, decimals));
  }

  function table(headers, rows, caption) {
    return h(
      "div",
      { class: "scroll" },
      h(
        "table",
        {},
        caption ? h("caption", { text: caption }) : null,
        h("thead", {}, h("tr", {}, headers.map(([label, num]) => h("th", { scope: "col", class: num ? "num" : null }, label)))),
        h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map(([content, num]) => h("td", { class: num ? "num" : null }, content))))),
      ),
    );
  }

  function note(text) {
    return h("p", { class: "empty-note" }, text);
  }

  // ---------- talking to the API ----------

  class ApiError extends Error {
    constructor(message, status, problem) {
      super(message);
      this.status = status;
      this.problem = problem;
    }
  }

  async function api(path, options = {}) {
    const init = { method: options.method || "GET", headers: { Accept: "application/json, application/problem+json" } };
    if (options.body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.body);
    }
    let response;
    try {
      response = await fetch("v1/" + path, init);
    } catch (error) {
      throw new ApiError(t("networkError", { msg: error.message }), 0, null);
    }
    const type = response.headers.get("content-type") || "";
    const body = type.includes("json") ? await response.json().catch(() => null) : null;
    if (!response.ok) {
      // RFC 9457 problem details: say what the service said.
      let message = t("httpError", { status: response.status });
      if (body && (body.detail || body.title)) {
        message = (body.title ? body.title + (body.detail ? ": " : "") : "") + (body.detail || "");
        if (body.error) message += " [" + body.error + "]";
        message += " (HTTP " + response.status + ")";
      }
      throw new ApiError(message, response.status, body);
    }
    return body;
  }

  function showError(message) {
    const box = $("error");
    box.textContent = message || "";
    box.hidden = !message;
  }

  function setStatus(message) {
    $("status").textContent = message || "";
  }

  function result(id, message, bad) {
    const box = $(id);
    box.textContent = message || "";
    box.classList.toggle("bad", Boolean(bad));
  }

  // ---------- language ----------

  function applyLanguage() {
    document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
    document.title = t("docTitle");
    for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
    const toggle = $("lang-toggle");
    toggle.textContent = t("switchTo");
    toggle.setAttribute("lang", state.lang === "zh" ? "en" : "zh-CN");
    toggle.setAttribute("aria-label", t("switchLabel"));
    renderEverything();
  }

  // ---------- account ----------

  async function loadAccount(address) {
    showError("");
    if (!ADDRESS.test(address)) {
      $("address").setAttribute("aria-invalid", "true");
      showError(t("badAddress"));
      return;
    }
    $("address").removeAttribute("aria-invalid");
    setStatus(t("loading"));
    $("load").disabled = true;
    try {
      const account = await api("accounts/" + address + "?history_epochs=30");
      state.address = account.account;
      state.account = account;
      store(STORE_ACCOUNT, account.account);
      $("address").value = account.account;
      await Promise.all([loadEmission(), loadMarket(), loadEquity()]);
      $("account-view").hidden = false;
      renderEverything();
      setStatus(t("loaded", { account: account.account }));
    } catch (error) {
      setStatus("");
      showError(error.message);
    } finally {
      $("load").disabled = false;
    }
  }

  async function refreshAccount() {
    state.account = await api("accounts/" + state.address + "?history_epochs=30");
    await Promise.all([loadEmission(), loadMarket(), loadEquity()]);
    renderEverything();
  }

  async function settle(promise, key) {
    try {
      const value = await promise;
      delete state.errors[key];
      return value;
    } catch (error) {
      state.errors[key] = error.message;
      return null;
    }
  }

  async function loadMarket() {
    const buyer = encodeURIComponent(state.address);
    const [catalogue, orders] = await Promise.all([
      settle(api("redemptions/catalogue?active_only=true"), "catalogue"),
      settle(api("redemptions/orders?buyer=" + buyer), "orders"),
    ]);
    state.catalogue = catalogue;
    state.orders = orders;
  }

  async function loadEquity() {
    const [equity, rounds, buybacks] = await Promise.all([
      state.settlement ? null : settle(api("equity"), "equity"),
      settle(api("equity/rounds"), "rounds"),
      settle(api("equity/buybacks"), "buybacks"),
    ]);
    // The token's decimals and symbol are the chain's (read once): without them no amount can be shown.
    if (equity) state.settlement = { symbol: equity.settlement_token.symbol, decimals: equity.settlement_token.decimals };
    if (!state.settlement) {
      state.errors.rounds = state.errors.rounds || state.errors.equity;
      state.errors.buybacks = state.errors.buybacks || state.errors.equity;
    }
    state.rounds = rounds;
    state.buybacks = buybacks;
    state.roundClaims = {};
    if (rounds && state.settlement) {
      await Promise.all(
        rounds.map(async (round) => {
          try {
            state.roundClaims[round.round_id] = await api("equity/rounds/" + round.round_id + "/accounts/" + state.address);
          } catch (error) {
            state.roundClaims[round.round_id] = error.status === 404 || error.status === 409 ? { missing: true } : { error: error.message };
          }
        }),
      );
    }
  }

  async function loadEmission() {
    try {
      state.emission = await api("emission");
      state.emissionError = null;
    } catch (error) {
      state.emissionError = error.message;
    }
  }

  function renderEverything() {
    renderEmission();
    if (!state.account) return;
    renderSummary();
    renderEarnings();
    renderWhy();
    renderSigning();
    renderMarket();
    renderEquity();
  }

  function setAmount(id, value) {
    const node = $(id);
    node.textContent = formatUnits(value);
    node.dataset.baseUnits = value;
    node.title = exactUnits(value);
  }

  function renderSummary() {
    const a = state.account;
    $("account-shown").textContent = a.account;
    setAmount("balance", a.balance);
    setAmount("claimable", a.claimable_now);
    setAmount("pending", a.pending);
    setAmount("claimed", a.claimed);
    const owed = BigInt(a.claimable_now) > 0n;
    $("claimable-note").textContent = owed && a.claimable_epoch !== null ? t("claimableEpoch", { epoch: a.claimable_epoch }) : t("nothingClaimable");
    $("pending-note").textContent = a.pending_epochs.length ? t("pendingEpochs", { epochs: a.pending_epochs.join(", ") }) : "";
    $("claim").disabled = !owed;
    $("claim-help").textContent = owed ? t("claimHelpRelayed") : t("claimHelpNone");
  }

  async function claim() {
    const button = $("claim");
    button.disabled = true;
    result("claim-result", t("claiming"));
    try {
      const done = await api("accounts/" + state.address + "/claim", { method: "POST" });
      result("claim-result", t("claimDone", { amount: formatUnits(done.amount), tx: short(done.tx.tx_hash), block: done.tx.block }));
      await refreshAccount();
    } catch (error) {
      result("claim-result", error.message, true);
      button.disabled = false;
    }
  }

  // ---------- earnings chart ----------

  function stateLabel(value) {
    if (value === null || value === undefined) return t("state_open");
    const key = "state_" + value;
    return key in STRINGS.zh ? t(key) : t("state_other", { state: value });
  }

  function renderEarnings() {
    const box = $("earnings-chart");
    box.replaceChildren();
    const history = [...state.account.history].sort((x, y) => x.epoch - y.epoch);
    const tableNode = $("earnings-table");
    tableNode.replaceChildren();
    if (!history.length) {
      box.append(note(t("noHistory")));
      return;
    }
    const width = 720;
    const height = 260;
    const pad = { left: 64, right: 12, top: 14, bottom: 40 };
    const plotW = width - pad.left - pad.right;
    const plotH = height - pad.top - pad.bottom;
    const totals = history.map((e) => BigInt(e.driving) + BigInt(e.cocreation));
    let max = totals.reduce((m, v) => (v > m ? v : m), 0n);
    if (max === 0n) max = UNIT;
    const maxNumber = toNumber(max.toString());
    const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": "earnings-svg-title" });
    svg.append(s("title", { id: "earnings-svg-title", text: t("chartTitle") }));
    for (let i = 0; i <= 4; i++) {
      const y = pad.top + plotH - (plotH * i) / 4;
      const tick = (max * BigInt(i)) / 4n;
      svg.append(s("line", { class: "grid", x1: pad.left, x2: width - pad.right, y1: y, y2: y }));
      svg.append(s("text", { x: pad.left - 6, y: y + 4, "text-anchor": "end", text: formatUnits(tick.toString(), UNIT_DECIMALS, 0) }));
    }
    const slot = plotW / Math.max(history.length, 1);
    const barW = Math.max(4, Math.min(48, slot * 0.7));
    const labelEvery = Math.ceil(history.length / 12);
    history.forEach((entry, index) => {
      const x = pad.left + slot * index + (slot - barW) / 2;
      const dH = (toNumber(entry.driving) / maxNumber) * plotH;
      const cH = (toNumber(entry.cocreation) / maxNumber) * plotH;
      const base = pad.top + plotH;
      const tip = `${t("epochN", { n: entry.epoch })} — ${t("driving")} ${formatUnits(entry.driving)}, ${t("cocreation")} ${formatUnits(entry.cocreation)}`;
      const groupNode = s("g", {}, s("title", { text: tip }));
      groupNode.append(s("rect", { class: "bar-driving", x, y: base - dH, width: barW, height: Math.max(dH, 0) }));
      groupNode.append(s("rect", { class: "bar-cocreation", x, y: base - dH - cH, width: barW, height: Math.max(cH, 0) }));
      svg.append(groupNode);
      if (index % labelEvery === 0) {
        svg.append(s("text", { x: x + barW / 2, y: base + 16, "text-anchor": "middle", text: String(entry.epoch) }));
      }
    });
    svg.append(s("line", { class: "axis", x1: pad.left, x2: width - pad.right, y1: pad.top + plotH, y2: pad.top + plotH }));
    svg.append(s("text", { x: pad.left + plotW / 2, y: height - 6, "text-anchor": "middle", text: t("epoch") }));
    box.append(svg);

    tableNode.append(
      h("thead", {}, h("tr", {}, [t("epoch"), t("driving"), t("cocreation"), t("total"), t("points"), t("status")].map((x, i) => h("th", { scope: "col", class: i && i < 5 ? "num" : null }, x)))),
      h(
        "tbody",
        {},
        [...history].reverse().map((entry) =>
          h(
            "tr",
            {},
            h("td", {}, String(entry.epoch)),
            h("td", { class: "num" }, amountSpan(entry.driving)),
            h("td", { class: "num" }, amountSpan(entry.cocreation)),
            h("td", { class: "num" }, amountSpan((BigInt(entry.driving) + BigInt(entry.cocreation)).toString())),
            h("td", { class: "num" }, String(entry.points)),
            h("td", {}, stateLabel(entry.state)),
          ),
        ),
      ),
    );
  }

  // ---------- why they earned ----------

  function renderWhy() {
    const box = $("why");
    box.replaceChildren();
    const history = state.account.history; // newest first
    if (!history.length) {
      box.append(note(t("noHistory")));
      return;
    }
    history.forEach((entry, index) => {
      const byCar = new Map();
      for (const drop of entry.drops) {
        const car = byCar.get(drop.vehicle_id) || { drops: 0, shares: 0, amount: 0n };
        car.drops += 1;
        car.shares += drop.shares;
        car.amount += BigInt(drop.amount);
        byCar.set(drop.vehicle_id, car);
      }
      const dropsPart = h("div", {}, h("h3", { text: t("drops") + " · " + t("driving") + " " + formatUnits(entry.driving) }));
      if (entry.drops.length) {
        dropsPart.append(
          table(
            [[t("car")], [t("count"), true], [t("shares"), true], [t("amount"), true]],
            [...byCar.entries()]
              .sort((x, y) => x[0].localeCompare(y[0]))
              .map(([car, v]) => [[h("span", { class: "mono" }, car)], [String(v.drops), true], [String(v.shares), true], [amountSpan(v.amount.toString()), true]]),
            t("dropsByCar"),
          ),
        );
        const shown = entry.drops.slice(0, MAX_DROP_ROWS);
        const all = h(
          "details",
          {},
          h("summary", { text: t("allDrops", { n: entry.drops.length }) }),
          table(
            [[t("slot"), true], [t("time")], [t("car")], [t("shares"), true], [t("amount"), true]],
            shown.map((d) => [[String(d.slot), true], [when(d.slot_start)], [h("span", { class: "mono" }, d.vehicle_id)], [String(d.shares), true], [amountSpan(d.amount), true]]),
          ),
          entry.drops.length > MAX_DROP_ROWS ? note(t("moreDrops", { n: MAX_DROP_ROWS })) : null,
        );
        dropsPart.append(all);
      } else {
        dropsPart.append(note(t("noDrops")));
      }
      const tasksPart = h("div", {}, h("h3", { text: t("tasks") + " · " + t("cocreation") + " " + formatUnits(entry.cocreation) }));
      if (entry.tasks.length) {
        tasksPart.append(
          table(
            [[t("task")], [t("completions"), true], [t("points"), true]],
            entry.tasks.map((task) => [[task.title || task.task_id], [String(task.completions), true], [String(task.points), true]]).concat([[[h("strong", { text: t("total") })], ["", true], [h("strong", { text: String(entry.points) }), true]]]),
          ),
        );
      } else {
        tasksPart.append(note(t("noTasks")));
      }
      const summary = h(
        "summary",
        {},
        `${t("epochN", { n: entry.epoch })} · ${when(entry.start, false)} · ${t("driving")} ${formatUnits(entry.driving)} · ${t("cocreation")} ${formatUnits(entry.cocreation)} `,
        h("span", { class: "badge " + (entry.state === "final" ? "ok" : "warn") }, stateLabel(entry.state)),
      );
      box.append(h("details", { class: "epoch-block", open: index === 0 }, summary, h("div", { class: "two" }, dropsPart, tasksPart)));
    });
  }

  // ---------- emission curve ----------

  function available(pool, slot) {
    const k = slot / SLOTS_PER_ERA;
    const r = slot % SLOTS_PER_ERA;
    if (k >= 255n) return pool;
    return pool - (pool >> k) + ((pool >> (k + 1n)) * r) / SLOTS_PER_ERA;
  }

  function bigUnits(stones) {
    // axis labels: 100,000,000 -> "1亿" / "100M"
    if (state.lang === "zh") return stones === 0 ? "0" : stones / 1e8 + "亿";
    return stones === 0 ? "0" : stones / 1e6 + "M";
  }

  function renderEmission() {
    const facts = $("emission-facts");
    const box = $("emission-chart");
    facts.replaceChildren();
    box.replaceChildren();
    const e = state.emission;
    if (!e) {
      if (state.emissionError) box.append(note(t("emissionUnavailable", { msg: state.emissionError })));
      return;
    }
    const fact = (label, ...value) => h("div", {}, h("dt", { text: label }), h("dd", {}, ...value));
    facts.append(
      fact(t("factEra"), e.started ? t("eraN", { n: e.era }) : t("notStarted")),
      fact(t("factDrop"), amountSpan(e.drop_size), " ", t("stones")),
      fact(t("factCocreate"), amountSpan(e.cocreation_per_slot), " ", t("stones")),
      fact(t("factNextHalving"), when(e.next_halving_at, false)),
      ...e.pools.map((p) => fact(t("factEmitted", { pool: t(p.pool) }), amountSpan(p.emitted), " / ", amountSpan(p.available))),
      fact(t("factSupply"), amountSpan(e.total_supply), " ", t("stones")),
      fact(t("factEpochs"), String(e.posted_epochs)),
    );

    const width = 720;
    const height = 300;
    const pad = { left: 56, right: 16, top: 30, bottom: 44 };
    const plotW = width - pad.left - pad.right;
    const plotH = height - pad.top - pad.bottom;
    const lastSlot = SLOTS_PER_ERA * BigInt(ERAS_SHOWN);
    const total = 300000000;
    const xOf = (slot) => pad.left + (Number(slot) / Number(lastSlot)) * plotW;
    const yOf = (stones) => pad.top + plotH - (stones / total) * plotH;
    const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": "emission-svg-title" });
    svg.append(s("title", { id: "emission-svg-title", text: t("curveTitle") }));
    for (let i = 0; i <= 3; i++) {
      const y = yOf(i * 1e8);
      svg.append(s("line", { class: "grid", x1: pad.left, x2: width - pad.right, y1: y, y2: y }));
      svg.append(s("text", { x: pad.left - 6, y: y + 4, "text-anchor": "end", text: bigUnits(i * 1e8) }));
    }
    const genesisYear = new Date(e.genesis * 1000).getUTCFullYear();
    const eraSeconds = Number(SLOTS_PER_ERA) * e.slot_seconds;
    for (let k = 0; k <= ERAS_SHOWN; k++) {
      const x = xOf(SLOTS_PER_ERA * BigInt(k));
      if (k > 0) {
        svg.append(s("line", { class: "halving", x1: x, x2: x, y1: pad.top, y2: pad.top + plotH }, s("title", { text: `${t("halving")} ${k}` })));
      }
      const year = new Date((e.genesis + eraSeconds * k) * 1000).getUTCFullYear();
      svg.append(s("text", { x, y: pad.top + plotH + 16, "text-anchor": "middle", text: String(year || genesisYear + 4 * k) }));
      if (k < ERAS_SHOWN) {
        const mid = xOf(SLOTS_PER_ERA * BigInt(k) + SLOTS_PER_ERA / 2n);
        svg.append(s("text", { class: "era-label", x: mid, y: pad.top - 8, "text-anchor": "middle", text: t("eraN", { n: k }) }));
      }
    }
    // Within an era emission is linear, so the era boundaries are the curve's exact corners.
    const points = { total: [], driving: [], cocreation: [] };
    for (let k = 0; k <= ERAS_SHOWN; k++) {
      const slot = SLOTS_PER_ERA * BigInt(k);
      const d = toNumber(available(POOLS.driving, slot).toString());
      const c = toNumber(available(POOLS.cocreation, slot).toString());
      const x = xOf(slot).toFixed(1);
      points.total.push(`${x},${yOf(d + c).toFixed(1)}`);
      points.driving.push(`${x},${yOf(d).toFixed(1)}`);
      points.cocreation.push(`${x},${yOf(c).toFixed(1)}`);
    }
    svg.append(s("polyline", { class: "curve-cocreation", points: points.cocreation.join(" ") }));
    svg.append(s("polyline", { class: "curve-driving", points: points.driving.join(" ") }));
    svg.append(s("polyline", { class: "curve-total", points: points.total.join(" ") }));
    const lx = width - pad.right - 150;
    [["curve-total", t("curveTotal")], ["curve-driving", t("driving")], ["curve-cocreation", t("cocreation")]].forEach(([cls, label], i) => {
      const y = pad.top + plotH - 52 + i * 18;
      svg.append(s("line", { class: cls, x1: lx, x2: lx + 26, y1: y, y2: y }));
      svg.append(s("text", { x: lx + 32, y: y + 4, text: label }));
    });
    const nowSlot = BigInt(Math.max(0, e.slot));
    const nowX = xOf(nowSlot < lastSlot ? nowSlot : lastSlot);
    const nowY = yOf(toNumber((available(POOLS.driving, nowSlot) + available(POOLS.cocreation, nowSlot)).toString()));
    svg.append(s("line", { class: "now-line", x1: nowX, x2: nowX, y1: pad.top, y2: pad.top + plotH }));
    svg.append(s("circle", { cx: nowX, cy: nowY, r: 4, class: "now-dot" }));
    svg.append(s("text", { class: "now-label", x: nowX + 6, y: pad.top + 14, text: `${t("now")} · ${t("eraN", { n: e.era })}` }));
    svg.append(s("line", { class: "axis", x1: pad.left, x2: width - pad.right, y1: pad.top + plotH, y2: pad.top + plotH }));
    box.append(svg);
  }

  // ---------- signing (orders, sell-backs) ----------

  function canSign() {
    return Boolean(window.ethereum && state.signer && state.address && state.signer.toLowerCase() === state.address.toLowerCase());
  }

  function renderSigning() {
    let text;
    if (!window.ethereum) text = t("signNoWallet");
    else if (!state.signer) text = t("signConnect");
    else if (!canSign()) text = t("signOther", { signer: state.signer });
    else text = t("signReady", { signer: state.signer });
    $("sign-help").textContent = text;
    $("wallet-state").textContent = state.signer ? t("walletConnected", { signer: state.signer }) : "";
  }

  async function connect() {
    showError("");
    try {
      const accounts = await window.ethereum.request({ method: "eth_requestAccounts" });
      if (!accounts || !accounts.length) return;
      state.signer = accounts[0];
      $("address").value = accounts[0];
      await loadAccount(accounts[0]);
    } catch (error) {
      showError(t("walletRejected", { msg: error.message || String(error) }));
    }
  }

  async function signTyped(typedData) {
    try {
      return await window.ethereum.request({ method: "eth_signTypedData_v4", params: [state.signer, JSON.stringify(typedData)] });
    } catch (error) {
      throw new ApiError(t("walletRejected", { msg: error.message || String(error) }), 0, null);
    }
  }

  async function chainDeadline() {
    // The chain's clock decides deadlines (demo and test chains run ahead of the wall clock).
    await loadEmission();
    const now = state.emission ? state.emission.now : Math.floor(Date.now() / 1000);
    return now + 1800;
  }

  // ---------- catalogue and orders ----------

  function renderMarket() {
    const box = $("catalogue");
    box.replaceChildren();
    const balance = BigInt(state.account.balance);
    if (state.errors.catalogue) box.append(note(t("sectionUnavailable", { msg: state.errors.catalogue })));
    else if (!state.catalogue || !state.catalogue.length) box.append(note(t("noItems")));
    else {
      const titles = {};
      const rows = state.catalogue.map((item) => {
        titles[item.item_id] = item.title || "#" + item.item_id;
        const price = BigInt(item.price);
        const stock = BigInt(item.stock);
        let reason = null;
        if (stock === 0n) reason = t("outOfStock");
        else if (balance < price) reason = t("insufficient");
        const button = h("button", { type: "button", class: "secondary", disabled: !canSign() || Boolean(reason), "aria-describedby": "sign-help", onclick: () => placeOrder(item) }, t("order"));
        return [
          [h("span", {}, h("strong", { text: titles[item.item_id] }), item.metadata_verified ? null : [" ", h("span", { class: "badge warn", text: t("unverified") })], item.description ? h("div", { class: "help", text: item.description }) : null)],
          [amountSpan(item.price), true],
          [stock === UNLIMITED_STOCK ? t("unlimited") : String(item.stock), true],
          [h("span", {}, button, reason ? [" ", h("span", { class: "help", text: reason })] : null)],
        ];
      });
      box.append(table([[t("item")], [t("price"), true], [t("stock"), true], [""]], rows));
    }
    const ordersBox = $("orders");
    ordersBox.replaceChildren();
    if (state.errors.orders) ordersBox.append(note(t("sectionUnavailable", { msg: state.errors.orders })));
    else if (!state.orders || !state.orders.length) ordersBox.append(note(t("noOrders")));
    else {
      const names = {};
      for (const item of state.catalogue || []) names[item.item_id] = item.title || "#" + item.item_id;
      ordersBox.append(
        table(
          [[t("orderId")], [t("item")], [t("price"), true], [t("status")], [t("created")]],
          [...state.orders].reverse().map((o) => [
            ["#" + o.order_id],
            [names[o.item_id] || "#" + o.item_id],
            [amountSpan(o.price), true],
            [h("span", { class: "badge " + (o.status === "fulfilled" ? "ok" : o.status === "escrowed" ? "warn" : ""), text: t("status_" + o.status) })],
            [when(o.created_at)],
          ]),
        ),
      );
    }
  }

  async function placeOrder(item) {
    result("order-result", t("ordering"));
    try {
      const deadline = await chainDeadline();
      const query = new URLSearchParams({ buyer: state.address, item_id: String(item.item_id), max_price: item.price, deadline: String(deadline) });
      const typed = await api("redemptions/orders/typed-data?" + query.toString());
      const signature = await signTyped(typed.typed_data);
      const done = await api("redemptions/orders", {
        method: "POST",
        body: { buyer: state.address, item_id: item.item_id, max_price: item.price, deadline, signature },
      });
      result("order-result", t("orderDone", { id: done.order.order_id, amount: formatUnits(done.order.price), tx: short(done.tx.tx_hash) }));
      await refreshAccount();
    } catch (error) {
      result("order-result", error.message, true);
    }
  }

  // ---------- equity rounds and buy-backs ----------

  // Settlement-token amounts: the token's own decimals, and its symbol as the currency.
  function cashSpan(value) {
    return amountSpan(value, state.settlement.decimals);
  }

  function cash(value) {
    return formatUnits(value, state.settlement.decimals);
  }

  function renderEquity() {
    const cur = state.settlement ? state.settlement.symbol : "";
    const now = state.emission ? state.emission.now : Math.floor(Date.now() / 1000);
    const roundsBox = $("rounds");
    roundsBox.replaceChildren();
    if (state.errors.rounds) roundsBox.append(note(t("sectionUnavailable", { msg: state.errors.rounds })));
    else if (!state.rounds || !state.rounds.length) roundsBox.append(note(t("noRounds")));
    else {
      roundsBox.append(
        table(
          [[t("round")], [t("recordDate")], [t("funding", { cur }), true], [t("deadline")], [t("yourPayout", { cur }), true], [""]],
          [...state.rounds].reverse().map((round) => {
            const mine = state.roundClaims[round.round_id] || {};
            let action;
            if (mine.error) action = h("span", { class: "help", text: mine.error });
            else if (mine.missing || !mine.payout || BigInt(mine.payout) === 0n) action = h("span", { class: "help", text: t("notEligible") });
            else if (mine.claimed) action = h("span", { class: "badge ok", text: t("claimedBadge") });
            else if (mine.claimable_at === null || now < mine.claimable_at) action = h("span", { class: "help", text: t("notYet") });
            else if (now > mine.claim_deadline) action = h("span", { class: "help", text: t("expired") });
            else action = h("button", { type: "button", class: "secondary", onclick: () => claimRound(round.round_id) }, t("claimRound"));
            return [
              ["#" + round.round_id],
              [when(round.record_date)],
              [cashSpan(round.funding), true],
              [when(round.claim_deadline)],
              [mine.payout ? cashSpan(mine.payout) : "—", true],
              [action],
            ];
          }),
        ),
      );
    }
    const box = $("buybacks");
    box.replaceChildren();
    if (state.errors.buybacks) box.append(note(t("sectionUnavailable", { msg: state.errors.buybacks })));
    else if (!state.buybacks || !state.buybacks.length) box.append(note(t("noBuybacks")));
    else {
      box.append(
        table(
          [[t("buyback")], [t("window")], [t("pricePerStone", { cur }), true], [t("bought"), true], [t("status")], [t("sell")]],
          [...state.buybacks].reverse().map((b) => {
            const open = b.open_now && !b.closed;
            const inputId = "sell-" + b.buyback_id;
            const form = h(
              "form",
              { class: "inline-form", onsubmit: (event) => { event.preventDefault(); sellBack(b, $(inputId)); } },
              h("label", { for: inputId, text: t("sellAmount") }),
              h("input", { id: inputId, type: "text", class: "small", inputmode: "decimal", autocomplete: "off", disabled: !open || !canSign(), placeholder: "0.0" }),
              h("button", { type: "submit", class: "secondary", disabled: !open || !canSign(), "aria-describedby": "sign-help" }, t("sell")),
            );
            return [
              ["#" + b.buyback_id],
              [when(b.start) + " – " + when(b.end)],
              [cashSpan(b.price_per_stone), true],
              [h("span", {}, amountSpan(b.stones_bought), " / ", amountSpan(b.stone_budget)), true],
              [h("span", { class: "badge " + (open ? "ok" : ""), text: open ? t("openNow") : b.closed ? t("closed") : t("notOpen") })],
              [form],
            ];
          }),
        ),
      );
    }
  }

  async function claimRound(roundId) {
    result("equity-result", t("claiming"));
    try {
      const done = await api("equity/rounds/" + roundId + "/claims", { method: "POST", body: { account: state.address } });
      result("equity-result", t("roundClaimDone", { id: roundId, amount: cash(done.claim.payout), cur: state.settlement.symbol, tx: short(done.tx.tx_hash) }));
      await refreshAccount();
    } catch (error) {
      result("equity-result", error.message, true);
    }
  }

  async function sellBack(buyback, input) {
    const stones = parseUnits(input.value);
    if (stones === null || stones <= 0n) {
      input.setAttribute("aria-invalid", "true");
      result("equity-result", t("badAmount"), true);
      return;
    }
    input.removeAttribute("aria-invalid");
    result("equity-result", t("selling"));
    try {
      const deadline = await chainDeadline();
      // The published value per stone is fixed for the window, so the payout is known exactly.
      const minPayout = (stones * BigInt(buyback.price_per_stone)) / UNIT;
      const query = new URLSearchParams({ seller: state.address, stones: stones.toString(), min_payout: minPayout.toString(), deadline: String(deadline) });
      const typed = await api("equity/buybacks/" + buyback.buyback_id + "/sell-backs/typed-data?" + query.toString());
      const signature = await signTyped(typed.typed_data);
      const done = await api("equity/buybacks/" + buyback.buyback_id + "/sell-backs", {
        method: "POST",
        body: { seller: state.address, stones: stones.toString(), min_payout: minPayout.toString(), deadline, signature },
      });
      result("equity-result", t("sellDone", { stones: formatUnits(done.stones), payout: cash(done.payout), cur: state.settlement.symbol, tx: short(done.tx.tx_hash) }));
      await refreshAccount();
    } catch (error) {
      result("equity-result", error.message, true);
    }
  }

  // ---------- start ----------

  function start() {
    const saved = recall(STORE_LANG);
    state.lang = saved === "en" ? "en" : "zh";
    $("lang-toggle").addEventListener("click", () => {
      state.lang = state.lang === "zh" ? "en" : "zh";
      store(STORE_LANG, state.lang);
      applyLanguage();
    });
    $("account-form").addEventListener("submit", (event) => {
      event.preventDefault();
      loadAccount($("address").value.trim());
    });
    $("claim").addEventListener("click", claim);
    if (window.ethereum) {
      const button = $("connect");
      button.hidden = false;
      button.addEventListener("click", connect);
      if (typeof window.ethereum.on === "function") {
        window.ethereum.on("accountsChanged", (accounts) => {
          state.signer = accounts && accounts.length ? accounts[0] : null;
          renderEverything();
        });
      }
    }
    applyLanguage();
    const fromUrl = new URLSearchParams(window.location.search).get("account");
    const initial = fromUrl || recall(STORE_ACCOUNT);
    loadEmission().then(renderEmission);
    if (initial && ADDRESS.test(initial)) {
      $("address").value = initial;
      loadAccount(initial);
    }
  }

  // Exposed for tests and the console; the page itself does not depend on it.
  window.yuanshiWallet = { formatUnits, parseUnits, exactUnits };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
