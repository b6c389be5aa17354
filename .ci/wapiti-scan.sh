#!/usr/bin/env bash
# Let wapiti (Debian's package) try every page and form of a running portal as the demo
# user: `make run` in one terminal, then `.ci/wapiti-scan.sh [http://127.0.0.1:8000]`.
# Fails when wapiti reports a vulnerability or an internal server error. The ssrf module
# calls out to the internet, so it is left out; sign-out, static files and the admin are
# excluded so the session lasts the whole scan. Takes about half an hour.
set -euo pipefail
base="${1:-http://127.0.0.1:8000}"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
command -v wapiti >/dev/null || { echo "wapiti is not installed: apt-get install -y wapiti" >&2; exit 2; }

# A session cookie of the demo user, in wapiti's cookie file format.
/usr/bin/python3 - "$base" "$work/cookies.json" <<'PY'
import http.cookiejar, json, re, sys, urllib.parse, urllib.request
base, out = sys.argv[1], sys.argv[2]
jar = http.cookiejar.CookieJar()
opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
page = opener.open(base + "/accounts/login/").read().decode()
token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
data = urllib.parse.urlencode({"csrfmiddlewaretoken": token, "login": "demo@portal.localhost",
                               "password": "demo-portal-password"}).encode()
request = urllib.request.Request(base + "/accounts/login/", data, headers={"Referer": base + "/accounts/login/"})
opener.open(request)
host = urllib.parse.urlsplit(base).hostname
cookies = {c.name: {"value": c.value, "expires": c.expires, "secure": False, "port": None, "version": 0} for c in jar}
assert "sessionid" in cookies, "the demo user could not sign in: is `make run` serving " + base
json.dump({host: {"/": cookies}}, open(out, "w"))
PY

/usr/bin/python3 "$here/wapiti.py" -u "$base/" --scope domain -c "$work/cookies.json" \
  -m "exec,file,permanentxss,redirect,sql,xss,crlf,blindsql,methods" \
  -x "$base/accounts/logout/*" -x "$base/static/*" -x "$base/admin/*" \
  --max-scan-time 2400 --max-attack-time 240 --flush-session --no-bugreport \
  -f txt -o "$work/report.txt" >"$work/wapiti.log" 2>&1 || { tail -20 "$work/wapiti.log"; exit 1; }

sed -n '/Summary of vulnerabilities/,/Summary of additionals/p' "$work/report.txt"
# Every count in the two summaries must be 0.
! grep -E ':\s+[1-9][0-9]*\s*$' <(sed -n '/Summary of vulnerabilities/,/Summary of additionals/p' "$work/report.txt")
