// A browser app as docs/API-NOTES.md "Cookie logins" describes one: the tokens
// stay in the service's HttpOnly cookies; the CSRF token is kept in memory.
const api = new URLSearchParams(location.search).get("api");
let csrfToken = null;

async function call(method, path, { body, json, csrf = true } = {}) {
  const headers = {};
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  }
  if (csrf && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  try {
    const response = await fetch(api + path, { method, headers, body, credentials: "include" });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null };
  } catch (error) {
    // What a page gets when CORS does not share the answer with it.
    return { status: 0, error: String(error) };
  }
}

window.logIn = async (username, password) => {
  const result = await call("POST", "/cookie/login", {
    body: new URLSearchParams({ username, password }),
  });
  if (result.status === 200) csrfToken = result.body.csrf_token;
  return result;
};
window.me = () => call("GET", "/users/me");
window.rename = (fullName, csrf = true) =>
  call("PATCH", "/users/me", { json: { full_name: fullName }, csrf });
window.refresh = async () => {
  const result = await call("POST", "/cookie/refresh");
  if (result.status === 200) csrfToken = result.body.csrf_token;
  return result;
};
window.recoverCsrfToken = async () => {
  const result = await call("GET", "/cookie/session");
  if (result.status === 200) csrfToken = result.body.csrf_token;
  return result;
};
window.logOut = () => call("POST", "/cookie/logout");
window.readableCookies = () => document.cookie;
// A hostile page's tries: a simple cross-origin POST needs no preflight, and
// its answer is opaque, but the browser sends the cookies of a same-site service.
window.forgeSignOutEverywhere = () =>
  fetch(api + "/logout/all", { method: "POST", mode: "no-cors", credentials: "include" })
    .then(() => "sent", (error) => String(error));
