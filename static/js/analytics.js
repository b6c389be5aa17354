// The analytics loader. The portal serves this file only to a visitor who accepted
// analytics on the cookie notice (privacy/analytics.py), and the page's CSP then allows
// the configured provider's origin and no other. No inline script: the provider's
// settings come from this tag's data attributes.
(() => {
  "use strict";
  const tag = document.currentScript;
  if (!tag) return;
  const { provider, origin, site } = tag.dataset;

  function load(src, data) {
    const script = document.createElement("script");
    script.async = true;
    script.src = src;
    Object.assign(script.dataset, data || {});
    document.head.appendChild(script);
  }

  if (provider === "plausible") {
    // Plausible reads its site from data-domain and reports to its script's origin.
    load(`${origin}/js/script.js`, { domain: site });
  } else if (provider === "matomo") {
    const queue = (window._paq = window._paq || []);
    queue.push(["setTrackerUrl", `${origin}/matomo.php`], ["setSiteId", site]);
    queue.push(["trackPageView"], ["enableLinkTracking"]);
    load(`${origin}/matomo.js`);
  } else if (provider === "google") {
    const layer = (window.dataLayer = window.dataLayer || []);
    const gtag = function () {
      layer.push(arguments); // gtag.js reads Arguments objects, not arrays
    };
    gtag("js", new Date());
    // Host-only cookies, so refusing later can delete them (privacy/views.py).
    gtag("config", site, { cookie_domain: "none" });
    const base = origin || "https://www.googletagmanager.com";
    load(`${base}/gtag/js?id=${encodeURIComponent(site)}`);
  }
})();
