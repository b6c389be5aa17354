/* Sign-In with Ethereum through a browser wallet (EIP-1193 provider, window.ethereum).
 *
 * The portal writes the message: this script asks it for one (GET /accounts/wallet/nonce/
 * with the wallet's address), has the wallet sign it (personal_sign), and posts the
 * message and signature in the page's form, as signing by hand would. Without a browser
 * wallet, or without JavaScript, the page's "By hand" way still works.
 */
(function () {
  "use strict";

  function toHex(text) {
    var bytes = new TextEncoder().encode(text);
    var hex = "0x";
    for (var i = 0; i < bytes.length; i += 1) {
      hex += bytes[i].toString(16).padStart(2, "0");
    }
    return hex;
  }

  function describe(error) {
    if (error && error.code === 4001) {
      return "You declined in your wallet; nothing was sent.";
    }
    return (error && error.message) || String(error);
  }

  function setUp(root) {
    var provider = window.ethereum;
    var box = root.querySelector("[data-wallet-browser]");
    if (!provider || typeof provider.request !== "function" || !box) {
      return;
    }
    var button = box.querySelector("[data-wallet-connect]");
    var status = box.querySelector("[data-wallet-status]");
    var form = box.querySelector("[data-wallet-form]");
    box.hidden = false;

    button.addEventListener("click", async function () {
      button.disabled = true;
      status.textContent = "Waiting for your wallet…";
      try {
        var accounts = await provider.request({ method: "eth_requestAccounts" });
        if (!accounts || !accounts.length) {
          throw new Error("The wallet shared no account.");
        }
        var address = accounts[0];
        var url = root.dataset.nonceUrl + "?purpose=" + encodeURIComponent(root.dataset.purpose) +
          "&address=" + encodeURIComponent(address);
        var response = await fetch(url, {
          credentials: "same-origin",
          headers: { Accept: "application/json" },
        });
        var data = await response.json();
        if (!response.ok) {
          throw new Error(data.error || "The portal could not prepare a message.");
        }
        status.textContent = "Sign the message in your wallet…";
        var signature = await provider.request({
          method: "personal_sign",
          params: [toHex(data.message), address],
        });
        form.elements.message.value = data.message;
        form.elements.signature.value = signature;
        status.textContent = "Checking the signature…";
        form.submit();
      } catch (error) {
        status.textContent = "Not signed: " + describe(error);
        button.disabled = false;
      }
    });
  }

  document.querySelectorAll("[data-wallet-sign]").forEach(setUp);
})();
