#include "backends/tokenizer/unicode.h"

#include <algorithm>
#include <unordered_map>
#include <vector>

namespace crucible::tokenizer {
namespace {
#include "backends/tokenizer/nfc_tables.inc"

constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount,
                   kSCount = kLCount * kNCount;

struct Tables {
  std::unordered_map<uint32_t, std::pair<uint32_t, uint32_t>> decomp;  // cp -> (offset, len)
  std::unordered_map<uint32_t, uint8_t> ccc;
  std::unordered_map<uint64_t, uint32_t> compose;
  Tables() {
    decomp.reserve(sizeof(kDecompIndex) / sizeof(kDecompIndex[0]) * 2);
    for (auto& e : kDecompIndex) decomp.emplace(e[0], std::make_pair(e[1], e[2]));
    for (auto& e : kCcc) ccc.emplace(e[0], static_cast<uint8_t>(e[1]));
    for (auto& e : kCompose) compose.emplace((uint64_t(e[0]) << 32) | e[1], e[2]);
  }
};
const Tables& tables() {
  static const Tables t;
  return t;
}

bool maybe_change(uint32_t cp) {
  if (cp < 0x300) return false;
  size_t lo = 0, hi = sizeof(kMaybeChange) / sizeof(kMaybeChange[0]);
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (kMaybeChange[mid][1] < cp) lo = mid + 1;
    else hi = mid;
  }
  return lo < sizeof(kMaybeChange) / sizeof(kMaybeChange[0]) && kMaybeChange[lo][0] <= cp;
}

uint8_t ccc_of(const Tables& t, uint32_t cp) {
  if (cp < 0x300) return 0;
  auto it = t.ccc.find(cp);
  return it == t.ccc.end() ? 0 : it->second;
}

void decompose_into(const Tables& t, uint32_t cp, std::vector<uint32_t>& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    uint32_t s = cp - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount) out.push_back(kTBase + s % kTCount);
    return;
  }
  if (cp >= 0xC0) {
    auto it = t.decomp.find(cp);
    if (it != t.decomp.end()) {
      for (uint32_t k = 0; k < it->second.second; ++k) out.push_back(kDecompData[it->second.first + k]);
      return;
    }
  }
  out.push_back(cp);
}

// Full canonical decomposition + canonical ordering of `s` into cps.
void decompose(const Tables& t, std::string_view s, std::vector<uint32_t>& cps) {
  size_t i = 0;
  while (i < s.size()) decompose_into(t, utf8_next(s, i), cps);
  // Canonical ordering: stable sort each run of non-starters by ccc.
  size_t n = cps.size();
  for (size_t a = 0; a < n;) {
    if (ccc_of(t, cps[a]) == 0) { ++a; continue; }
    size_t b = a;
    while (b < n && ccc_of(t, cps[b]) != 0) ++b;
    if (b - a > 1)
      std::stable_sort(cps.begin() + a, cps.begin() + b,
                       [&](uint32_t x, uint32_t y) { return ccc_of(t, x) < ccc_of(t, y); });
    a = b;
  }
}

bool compose_pair(const Tables& t, uint32_t a, uint32_t b, uint32_t& out) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount) {
    out = kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
    return true;
  }
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase &&
      b < kTBase + kTCount) {
    out = a + (b - kTBase);
    return true;
  }
  auto it = t.compose.find((uint64_t(a) << 32) | b);
  if (it == t.compose.end()) return false;
  out = it->second;
  return true;
}

void compose(const Tables& t, std::vector<uint32_t>& cps) {
  if (cps.empty()) return;
  size_t starter = SIZE_MAX;
  int last_ccc = -1;
  size_t w = 0;
  for (size_t r = 0; r < cps.size(); ++r) {
    uint32_t cp = cps[r];
    int c = ccc_of(t, cp);
    if (starter != SIZE_MAX) {
      // Not blocked: the last kept character is the starter itself or has a lower ccc.
      bool blocked = last_ccc != -1 && (last_ccc == 0 || last_ccc >= c);
      uint32_t composed;
      if (!blocked && compose_pair(t, cps[starter], cp, composed)) {
        cps[starter] = composed;
        continue;
      }
    }
    if (c == 0) {
      starter = w;
      last_ccc = -1;
    } else {
      last_ccc = c;
    }
    cps[w++] = cp;
    if (c == 0) last_ccc = -1;
  }
  cps.resize(w);
}

// Index of the first code point that may change; s.size() when none.
size_t first_maybe_change(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char b = static_cast<unsigned char>(s[i]);
    if (b < 0xCC) {  // < U+0300
      i += b < 0x80 ? 1 : 2;
      continue;
    }
    size_t at = i;
    if (maybe_change(utf8_next(s, i))) return at;
  }
  return s.size();
}

bool normalize(std::string_view s, std::string& out, bool recompose) {
  size_t first = 0;
  if (recompose) {
    first = first_maybe_change(s);
  } else {  // NFD: anything non-ASCII may decompose
    while (first < s.size() && static_cast<unsigned char>(s[first]) < 0x80) ++first;
  }
  if (first == s.size()) return false;
  // Back up to the previous starter so that composition with it can happen.
  const Tables& t = tables();
  size_t start = first;
  while (start > 0) {
    size_t p = start - 1;
    while (p > 0 && (static_cast<unsigned char>(s[p]) & 0xC0) == 0x80) --p;
    size_t q = p;
    uint32_t cp = utf8_next(s, q);
    start = p;
    if (ccc_of(t, cp) == 0) break;
  }
  std::vector<uint32_t> cps;
  cps.reserve(s.size() - start);
  decompose(t, s.substr(start), cps);
  if (recompose) compose(t, cps);
  std::string r;
  r.reserve(s.size() + 8);
  r.append(s.data(), start);
  for (uint32_t cp : cps) utf8_append(r, cp);
  if (r == s) return false;
  out = std::move(r);
  return true;
}

}  // namespace

bool utf8_valid(std::string_view s) {
  size_t i = 0, n = s.size();
  const unsigned char* p = reinterpret_cast<const unsigned char*>(s.data());
  while (i < n) {
    unsigned char c = p[i];
    if (c < 0x80) { ++i; continue; }
    size_t len;
    uint32_t min;
    if ((c & 0xE0) == 0xC0) { len = 2; min = 0x80; }
    else if ((c & 0xF0) == 0xE0) { len = 3; min = 0x800; }
    else if ((c & 0xF8) == 0xF0) { len = 4; min = 0x10000; }
    else return false;
    if (i + len > n) return false;
    uint32_t cp = c & (0x7F >> len);
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

std::string utf8_repair(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  const unsigned char* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t i = 0, n = s.size();
  while (i < n) {
    unsigned char c = p[i];
    if (c < 0x80) { out.push_back(char(c)); ++i; continue; }
    size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
    if (len == 0) { out += "\xEF\xBF\xBD"; ++i; continue; }
    size_t k = 1;
    for (; k < len && i + k < n; ++k) {
      unsigned char b = p[i + k];
      if (k == 1 ? (b < lo || b > hi) : (b & 0xC0) != 0x80) break;
    }
    if (k == len) out.append(s.data() + i, len);
    else out += "\xEF\xBF\xBD";
    i += k;
  }
  return out;
}

uint32_t utf8_next(std::string_view s, size_t& i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) { ++i; return c; }
  size_t len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
  uint32_t cp = c & (0x7F >> len);
  for (size_t k = 1; k < len && i + k < s.size(); ++k) cp = (cp << 6) | (s[i + k] & 0x3F);
  i += len;
  return cp;
}

void utf8_append(std::string& out, uint32_t cp) {
  if (cp < 0x80) out.push_back(char(cp));
  else if (cp < 0x800) { out.push_back(char(0xC0 | (cp >> 6))); out.push_back(char(0x80 | (cp & 0x3F))); }
  else if (cp < 0x10000) {
    out.push_back(char(0xE0 | (cp >> 12)));
    out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(char(0xF0 | (cp >> 18)));
    out.push_back(char(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  }
}

bool nfc(std::string_view s, std::string& out) { return normalize(s, out, true); }
bool nfd(std::string_view s, std::string& out) { return normalize(s, out, false); }

}  // namespace crucible::tokenizer
