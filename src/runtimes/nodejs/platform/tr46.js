// The Node.js guest's platform (see index.js): tr46 (Unicode IDNA, 200 KB of tables to build in
// each context) as whatwg-url's URL parser uses it, for every host it parses. Under UTS #46, with
// the URL Standard's non-strict options, a host of ASCII characters and no punycode (`xn--`) label
// maps to its lowercase form: such a host, the usual one, never loads tr46; any other host gets the
// real tr46 (platform-bundle.ts resolves `tr46` here to whatwg-url's own).

const ASCII = /^[\x00-\x7f]*$/;
const PUNYCODE_LABEL = /(?:^|\.)xn--/i;

function real() {
  return require('tr46');
}

export function toASCII(domain, options = {}) {
  const lenient = !options.checkHyphens && !options.useSTD3ASCIIRules && !options.verifyDNSLength;
  if (lenient && typeof domain === 'string' && ASCII.test(domain) && !PUNYCODE_LABEL.test(domain)) return domain.toLowerCase();
  return real().toASCII(domain, options);
}

export function toUnicode(domain, options) {
  return real().toUnicode(domain, options);
}
