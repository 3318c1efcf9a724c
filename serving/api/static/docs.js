// Renders /openapi.json as a page: no external assets, so it works with no internet access.
"use strict";

const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  for (const child of children) node.append(child);
  return node;
};

const resolve = (doc, schema) => {
  if (!schema || typeof schema !== "object") return schema;
  if (schema.$ref) return resolve(doc, doc.components.schemas[schema.$ref.split("/").pop()]);
  const out = Array.isArray(schema) ? [] : {};
  for (const [key, value] of Object.entries(schema)) out[key] = resolve(doc, value);
  return out;
};

const json = (value) => el("pre", {}, JSON.stringify(value, null, 2));

function parameterTable(parameters) {
  const table = el("table", {}, el("tr", {}, el("th", {}, "name"), el("th", {}, "in"),
    el("th", {}, "schema"), el("th", {}, "try")));
  for (const p of parameters) {
    const input = el("input", { "data-name": p.name, "data-in": p.in, size: 12 });
    table.append(el("tr", {}, el("td", {}, p.name + (p.required ? " *" : "")), el("td", {}, p.in),
      el("td", {}, el("code", {}, JSON.stringify(p.schema))), el("td", {}, input)));
  }
  return table;
}

async function tryIt(path, method, box, output) {
  let url = path;
  const query = new URLSearchParams();
  for (const input of box.querySelectorAll("input[data-name]")) {
    if (!input.value) continue;
    if (input.dataset.in === "path") url = url.replace(`{${input.dataset.name}}`, input.value);
    else query.set(input.dataset.name, input.value);
  }
  const headers = { Accept: "application/json" };
  const token = document.getElementById("token").value.trim();
  if (token) headers.Authorization = "Token " + token;
  const body = box.querySelector("textarea")?.value;
  if (body) headers["Content-Type"] = "application/json";
  const response = await fetch(url + (query.size ? "?" + query : ""), { method, headers, body: body || undefined });
  // The API's own headers (X-Model-Version, X-Next-Cursor, Link, ...) say as much as the body.
  const shown = [...response.headers].filter(([name]) => name.startsWith("x-") || name === "link");
  const lines = shown.map(([name, value]) => `${name}: ${value}\n`).join("");
  output.textContent = `${response.status} ${response.statusText}\n${lines}\n${await response.text()}`;
}

function operation(doc, path, method, op) {
  const box = el("details", {}, el("summary", {}, el("span", { class: `method ${method}` }, method),
    el("code", {}, path), " — ", op.summary, op.security ? el("span", { class: "lock" }, " needs a token") : ""));
  if (op.parameters.length) box.append(el("h4", {}, "Parameters"), parameterTable(op.parameters));
  if (op.requestBody) {
    const media = Object.keys(op.requestBody.content).join(" or ");
    const schema = Object.values(op.requestBody.content)[0].schema;
    box.append(el("h4", {}, `Body (${media}${op.requestBody.required ? "" : ", optional"})`),
      json(resolve(doc, schema)), el("textarea", { rows: 3, placeholder: "JSON body to send" }));
  }
  box.append(el("h4", {}, "Responses"));
  for (const [status, response] of Object.entries(op.responses)) {
    const content = response.content ? Object.values(response.content)[0].schema : null;
    box.append(el("p", {}, el("b", {}, status), " ", response.description));
    if (response.headers) {
      const list = el("ul", {});
      for (const [name, header] of Object.entries(response.headers)) {
        list.append(el("li", {}, el("code", {}, name), " — ", header.description));
      }
      box.append(list);
    }
    if (content && Object.keys(content).length) box.append(json(resolve(doc, content)));
  }
  const output = el("pre", {}, "");
  const button = el("button", {}, "Send");
  button.addEventListener("click", () => tryIt(path, method.toUpperCase(), box, output));
  box.append(button, output);
  return box;
}

async function main() {
  const doc = await (await fetch("/openapi.json", { headers: { Accept: "application/json" } })).json();
  document.getElementById("version").textContent = doc.info.version;
  const byTag = new Map();
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const tag = op.tags[0];
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push(operation(doc, path, method, op));
    }
  }
  const root = document.getElementById("operations");
  root.replaceChildren();
  for (const [tag, boxes] of byTag) root.append(el("h2", {}, tag), ...boxes);
}

main().catch((error) => {
  document.getElementById("operations").textContent = "Could not load /openapi.json: " + error;
});
