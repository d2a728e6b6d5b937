// A native member worker for the UDP targets of the fan-out bench (chatd and
// the raw relay): the same job as bench/members.ts, in C++, so that the
// receiving side costs a fraction of what Node's dgram does and the load
// driver is not the bottleneck on a small machine.
//
// Spawned by bench/member-pool.ts with stdio pipes; newline-delimited JSON,
// the ToWorker/FromWorker messages of bench/members-ipc.ts:
//   stdin:  {"type":"join","target":{"kind":"chatd","controlPort":N,"room":S}
//                                  | {"kind":"relay","port":N},
//            "nicks":[S...],"addressBlock":N}
//           {"type":"report","tag":S}
//           {"type":"quit"}
//   stdout: {"type":"joined","members":N}
//           {"type":"report","tag":S,"msgs":N,"datagrams":N,"lastUs":N,"latency":[[bucket,count],...]}
//           {"type":"error","message":S}
// Exits on quit or when stdin closes (the driver is gone: never outlive it).
//
// Every member has its own nonblocking UDP socket bound to its own loopback
// address (clientAddress in bench/udp.ts). One epoll set holds them all and
// stdin; readable sockets are drained with recvmmsg, 64 datagrams a call,
// into buffers allocated once. Deliveries are counted as scanBenchTexts
// (bench/members-ipc.ts) does, per tag, with latencies in LogHistogram's
// buckets (bench/stats.ts), against CLOCK_MONOTONIC in µs (nowUs in
// bench/udp.ts). The arrival time is the kernel's receive timestamp of the
// datagram (SO_TIMESTAMPNS), so the worker can sleep a little after each
// wake-up (--linger-us, default 1000) and read the next datagrams in bulk
// without adding its own delay to the latencies.
// Build: g++ -O2 -std=c++17 -o native-members members.cc (Linux);
// bench/native-build.ts does it.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace {

// ---------------------------------------------------------------- time

int64_t nowUs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

// ---------------------------------------------------------------- minimal JSON

// Enough JSON for the driver's commands and the servers' control replies
// (never on the delivery path).
struct JVal {
  enum Kind { Null, Bool, Num, Str, Arr, Obj } kind = Null;
  bool b = false;
  double num = 0;
  std::string str;
  std::vector<JVal> arr;
  std::vector<std::pair<std::string, JVal>> obj;

  const JVal* get(const char* key) const {
    if (kind != Obj) return nullptr;
    for (auto& kv : obj)
      if (kv.first == key) return &kv.second;
    return nullptr;
  }
  std::string getStr(const char* key) const {
    const JVal* v = get(key);
    return v && v->kind == Str ? v->str : std::string();
  }
  double getNum(const char* key, double fallback = NAN) const {
    const JVal* v = get(key);
    return v && v->kind == Num ? v->num : fallback;
  }
};

struct JParser {
  const char* p;
  const char* e;
  int depth = 0;

  void ws() {
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
  }
  bool lit(const char* s) {
    size_t n = strlen(s);
    if (size_t(e - p) < n || memcmp(p, s, n) != 0) return false;
    p += n;
    return true;
  }
  static void utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += char(cp);
    } else if (cp < 0x800) {
      out += char(0xC0 | (cp >> 6));
      out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += char(0xE0 | (cp >> 12));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    } else {
      out += char(0xF0 | (cp >> 18));
      out += char(0x80 | ((cp >> 12) & 0x3F));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    }
  }
  bool hex4(unsigned& v) {
    if (e - p < 4) return false;
    v = 0;
    for (int i = 0; i < 4; i++) {
      char c = *p++;
      v <<= 4;
      if (c >= '0' && c <= '9') v |= unsigned(c - '0');
      else if (c >= 'a' && c <= 'f') v |= unsigned(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= unsigned(c - 'A' + 10);
      else return false;
    }
    return true;
  }
  bool string(std::string& out) {
    if (p >= e || *p != '"') return false;
    p++;
    while (p < e) {
      char c = *p++;
      if (c == '"') return true;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (p >= e) return false;
      char x = *p++;
      switch (x) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned cp;
          if (!hex4(cp)) return false;
          if (cp >= 0xD800 && cp < 0xDC00 && e - p >= 6 && p[0] == '\\' && p[1] == 'u') {
            const char* save = p;
            p += 2;
            unsigned lo;
            if (hex4(lo) && lo >= 0xDC00 && lo < 0xE000) cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            else p = save;
          }
          utf8(out, cp);
          break;
        }
        default: return false;
      }
    }
    return false;
  }
  bool value(JVal& v) {
    if (++depth > 32) return false;
    ws();
    if (p >= e) return false;
    bool ok = true;
    char c = *p;
    if (c == '{') {
      v.kind = JVal::Obj;
      p++;
      ws();
      if (p < e && *p == '}') {
        p++;
      } else {
        for (;;) {
          ws();
          std::pair<std::string, JVal> kv;
          if (!string(kv.first)) { ok = false; break; }
          ws();
          if (p >= e || *p != ':') { ok = false; break; }
          p++;
          if (!value(kv.second)) { ok = false; break; }
          v.obj.push_back(std::move(kv));
          ws();
          if (p < e && *p == ',') { p++; continue; }
          if (p < e && *p == '}') { p++; break; }
          ok = false;
          break;
        }
      }
    } else if (c == '[') {
      v.kind = JVal::Arr;
      p++;
      ws();
      if (p < e && *p == ']') {
        p++;
      } else {
        for (;;) {
          JVal item;
          if (!value(item)) { ok = false; break; }
          v.arr.push_back(std::move(item));
          ws();
          if (p < e && *p == ',') { p++; continue; }
          if (p < e && *p == ']') { p++; break; }
          ok = false;
          break;
        }
      }
    } else if (c == '"') {
      v.kind = JVal::Str;
      ok = string(v.str);
    } else if (lit("true")) {
      v.kind = JVal::Bool;
      v.b = true;
    } else if (lit("false")) {
      v.kind = JVal::Bool;
    } else if (lit("null")) {
      v.kind = JVal::Null;
    } else {
      char* end = nullptr;
      std::string tmp(p, size_t(std::min<ptrdiff_t>(e - p, 64)));
      v.kind = JVal::Num;
      v.num = strtod(tmp.c_str(), &end);
      if (end == tmp.c_str()) ok = false;
      else p += end - tmp.c_str();
    }
    depth--;
    return ok;
  }
};

bool parseJson(const char* p, size_t n, JVal& out) {
  JParser j{p, p + n};
  if (!j.value(out)) return false;
  j.ws();
  return j.p == j.e;
}

void jsonString(std::string& out, const std::string& s) {
  out += '"';
  for (unsigned char c : s) {
    if (c == '"') out += "\\\"";
    else if (c == '\\') out += "\\\\";
    else if (c < 0x20) {
      char b[8];
      snprintf(b, sizeof b, "\\u%04x", c);
      out += b;
    } else out += char(c);
  }
  out += '"';
}

// ---------------------------------------------------------------- output

void writeAll(const std::string& s) {
  const char* p = s.data();
  size_t left = s.size();
  while (left > 0) {
    ssize_t w = write(1, p, left);
    if (w < 0) {
      if (errno == EINTR) continue;
      _exit(0);  // the driver is gone
    }
    p += w;
    left -= size_t(w);
  }
}

void reply(std::string line) {
  line += '\n';
  writeAll(line);
}

void replyError(const std::string& message) {
  std::string s = "{\"type\":\"error\",\"message\":";
  jsonString(s, message);
  s += '}';
  reply(std::move(s));
}

// ---------------------------------------------------------------- counters

// LogHistogram (bench/stats.ts): bucket i holds [1.02^i, 1.02^(i+1)) µs.
constexpr int BUCKETS = 1000;
const double LOG_GROWTH = std::log(1.02);

struct Counter {
  std::string tag;
  uint64_t msgs = 0;
  uint64_t datagrams = 0;
  int64_t lastUs = 0;
  uint64_t latency[BUCKETS] = {};
  // The datagram that last counted toward `datagrams` (a datagram counts once per tag).
  uint64_t lastDatagram = 0;

  void record(int64_t us) {
    int i = 0;
    if (us >= 1) {
      double b = std::floor(std::log(double(us)) / LOG_GROWTH);
      i = b >= BUCKETS - 1 ? BUCKETS - 1 : int(b);
    }
    latency[i]++;
  }
};

std::vector<std::unique_ptr<Counter>> counters;
Counter* lastCounter = nullptr;

Counter* counterFor(const char* tag, size_t n) {
  if (lastCounter && lastCounter->tag.size() == n && memcmp(lastCounter->tag.data(), tag, n) == 0) return lastCounter;
  for (auto& c : counters) {
    if (c->tag.size() == n && memcmp(c->tag.data(), tag, n) == 0) return lastCounter = c.get();
  }
  counters.emplace_back(new Counter());
  counters.back()->tag.assign(tag, n);
  return lastCounter = counters.back().get();
}

const char MSG_PREFIX[] = "{\"type\":\"msg\",";
const size_t MSG_PREFIX_LEN = sizeof MSG_PREFIX - 1;
const char TEXT_FIELD[] = "\"text\":\"B|";
const size_t TEXT_FIELD_LEN = sizeof TEXT_FIELD - 1;
uint64_t datagramSeq = 0;

// scanBenchTexts: every line of the datagram that starts like a msg event and
// holds a bench text "B|<tag>|<sent µs>|" is one delivery of <tag>.
void countDatagram(const char* buf, size_t len, int64_t atUs) {
  const uint64_t dg = ++datagramSeq;
  const char* p = buf;
  const char* end = buf + len;
  while (p < end) {
    const char* nl = static_cast<const char*>(memchr(p, '\n', size_t(end - p)));
    if (!nl) nl = end;
    if (size_t(nl - p) >= MSG_PREFIX_LEN && memcmp(p, MSG_PREFIX, MSG_PREFIX_LEN) == 0) {
      const char* t = static_cast<const char*>(memmem(p, size_t(nl - p), TEXT_FIELD, TEXT_FIELD_LEN));
      if (t) {
        const char* a = t + TEXT_FIELD_LEN;
        const char* b = static_cast<const char*>(memchr(a, '|', size_t(nl - a)));
        if (b && b > a) {
          const char* c = static_cast<const char*>(memchr(b + 1, '|', size_t(nl - b - 1)));
          if (c) {
            Counter* k = counterFor(a, size_t(b - a));
            k->msgs++;
            k->lastUs = atUs;
            // Number(): digits only here (our own sender writes them); anything else records no latency.
            int64_t sent = 0;
            bool ok = c > b + 1;
            for (const char* d = b + 1; d < c; d++) {
              if (*d < '0' || *d > '9') { ok = false; break; }
              sent = sent * 10 + (*d - '0');
            }
            if (ok) k->record(atUs - sent);
            if (k->lastDatagram != dg) {
              k->datagrams++;
              k->lastDatagram = dg;
            }
          }
        }
      }
    }
    p = nl + 1;
  }
}

std::string report(const std::string& tag) {
  std::string s = "{\"type\":\"report\",\"tag\":";
  jsonString(s, tag);
  Counter* c = nullptr;
  for (auto& k : counters)
    if (k->tag == tag) c = k.get();
  char num[160];
  if (!c) {
    s += ",\"msgs\":0,\"datagrams\":0,\"lastUs\":0,\"latency\":[]}";
    return s;
  }
  snprintf(num, sizeof num, ",\"msgs\":%llu,\"datagrams\":%llu,\"lastUs\":%lld,\"latency\":[", (unsigned long long)c->msgs,
           (unsigned long long)c->datagrams, (long long)c->lastUs);
  s += num;
  bool first = true;
  for (int i = 0; i < BUCKETS; i++) {
    if (c->latency[i] == 0) continue;
    snprintf(num, sizeof num, "%s[%d,%llu]", first ? "" : ",", i, (unsigned long long)c->latency[i]);
    s += num;
    first = false;
  }
  s += "]}";
  return s;
}

// ---------------------------------------------------------------- members

enum class Kind { Chatd, Relay };

enum class State {
  Waiting,  // not started yet (joins run a few at a time)
  Joining,  // chatd: join sent to the control port; relay: register sent
  Proving,  // chatd: hb sent to the room port, waiting for its reply
  Ready,
  Failed,
};

constexpr int64_t JOIN_TIMEOUT_US = 6'000'000;  // UdpPeer.joinOnly: 6 s per attempt
constexpr int64_t REQ_TIMEOUT_US = 2'000'000;   // hb and register: 2 s per attempt
constexpr int ATTEMPTS = 3;
constexpr int JOINS_IN_FLIGHT = 8;  // as members.ts (inParallel(..., 8, ...))
constexpr int SOCKET_BUFFER_BYTES = 2 << 20;

struct Member {
  int fd = -1;
  Kind kind = Kind::Chatd;
  std::string nick;
  std::string address;
  std::string room;
  State state = State::Waiting;
  int attempt = 0;
  int64_t deadlineUs = 0;
  std::string request;  // the datagram to (re)send while Joining
  std::string requestId;
  sockaddr_in control{};  // where join / register go
  sockaddr_in roomAddr{};  // chatd: the room's port
  std::string hb;          // chatd: {"type":"hb","token":...}
  int64_t heartbeatUs = 0;
  int64_t nextHbUs = 0;
};

std::vector<Member> members;  // index + 1 is the epoll key (0 = stdin)

struct JoinJob {
  size_t first = 0;  // members[first, first + count)
  size_t count = 0;
  size_t next = 0;   // the next member to start, relative to first
  size_t ready = 0;
  size_t inFlight = 0;
  bool failed = false;
};
std::deque<JoinJob> jobs;

int epfd = -1;
int64_t nextTimerUs = 0;  // when timers() must run next

sockaddr_in loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// clientAddress(block, i) of bench/udp.ts.
std::string clientAddress(int block, size_t i) {
  char b[32];
  snprintf(b, sizeof b, "127.%d.%zu.%zu", block, (i / 250) % 250, (i % 250) + 1);
  return b;
}

void sendTo(const Member& m, const std::string& data, const sockaddr_in& to) {
  // A full send buffer or an ICMP error only loses this datagram: the retries and timeouts cover it.
  sendto(m.fd, data.data(), data.size(), MSG_DONTWAIT, reinterpret_cast<const sockaddr*>(&to), sizeof to);
}

void wake(int64_t atUs) {
  if (atUs < nextTimerUs) nextTimerUs = atUs;
}

std::string openSocket(Member& m, size_t key) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::string("socket: ") + strerror(errno);
  int size = SOCKET_BUFFER_BYTES;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = 0;
  if (inet_pton(AF_INET, m.address.c_str(), &a.sin_addr) != 1) {
    close(fd);
    return "bad address " + m.address;
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) {
    std::string err = "bind " + m.address + ": " + strerror(errno);
    close(fd);
    return err;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = key;
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
    std::string err = std::string("epoll_ctl: ") + strerror(errno);
    close(fd);
    return err;
  }
  m.fd = fd;
  return "";
}

void finishMember(JoinJob& job, Member& m, bool ok, const std::string& why);

void sendRequest(Member& m, int64_t now) {
  m.attempt++;
  m.deadlineUs = now + (m.state == State::Joining && m.kind == Kind::Chatd ? JOIN_TIMEOUT_US : REQ_TIMEOUT_US);
  if (m.state == State::Proving) sendTo(m, m.hb, m.roomAddr);
  else sendTo(m, m.request, m.control);
  wake(m.deadlineUs);
}

JoinJob* jobOf(size_t index) {
  for (auto& j : jobs)
    if (index >= j.first && index < j.first + j.count) return &j;
  return nullptr;
}

void startMembers(JoinJob& job, int64_t now) {
  while (!job.failed && job.inFlight < JOINS_IN_FLIGHT && job.next < job.count) {
    Member& m = members[job.first + job.next];
    job.next++;
    job.inFlight++;
    std::string err = openSocket(m, job.first + job.next);  // key = index + 1
    if (!err.empty()) {
      finishMember(job, m, false, err);
      return;
    }
    m.state = State::Joining;
    m.attempt = 0;
    sendRequest(m, now);
  }
}

void completeJobs() {
  while (!jobs.empty()) {
    JoinJob& j = jobs.front();
    if (j.failed) {
      if (j.inFlight > 0) return;  // wait for the stragglers before the next job's replies
    } else if (j.ready < j.count) {
      return;
    } else {
      size_t n = 0;
      for (auto& m : members)
        if (m.state == State::Ready) n++;
      reply("{\"type\":\"joined\",\"members\":" + std::to_string(n) + "}");
    }
    jobs.pop_front();
    if (!jobs.empty()) startMembers(jobs.front(), nowUs());
  }
}

void finishMember(JoinJob& job, Member& m, bool ok, const std::string& why) {
  job.inFlight--;
  if (ok) {
    m.state = State::Ready;
    job.ready++;
  } else {
    m.state = State::Failed;
    if (m.fd >= 0) {
      epoll_ctl(epfd, EPOLL_CTL_DEL, m.fd, nullptr);
      close(m.fd);
      m.fd = -1;
    }
    if (!job.failed) {
      job.failed = true;
      replyError(why);
    }
  }
  if (&job == &jobs.front()) {
    startMembers(job, nowUs());
    completeJobs();
  }
}

// A datagram to a member that is not Ready yet: the reply it waits for?
void onControlDatagram(size_t index, const char* buf, size_t len, int64_t now) {
  Member& m = members[index];
  JoinJob* job = jobOf(index);
  if (!job) return;
  const char* p = buf;
  const char* end = buf + len;
  while (p < end && (m.state == State::Joining || m.state == State::Proving)) {
    const char* nl = static_cast<const char*>(memchr(p, '\n', size_t(end - p)));
    if (!nl) nl = end;
    JVal v;
    if (nl > p && parseJson(p, size_t(nl - p), v) && v.kind == JVal::Obj) {
      std::string type = v.getStr("type");
      if (m.state == State::Joining && v.getStr("id") == m.requestId) {
        if (m.kind == Kind::Relay) {
          if (type == "registered") finishMember(*job, m, true, "");
          else finishMember(*job, m, false, "register " + m.nick + " refused: " + std::string(p, nl));
        } else if (type == "joined") {
          double port = v.getNum("port");
          double hbMs = v.getNum("heartbeatMs");
          std::string token = v.getStr("token");
          if (!(port > 0 && port < 65536) || token.empty() || !(hbMs > 0)) {
            finishMember(*job, m, false, "join " + m.room + " as " + m.nick + ": unexpected reply " + std::string(p, nl));
          } else {
            m.roomAddr = loopback(uint16_t(port));
            m.heartbeatUs = int64_t(hbMs * 1000);
            m.hb = "{\"type\":\"hb\",\"token\":";
            jsonString(m.hb, token);
            m.hb += '}';
            m.state = State::Proving;
            m.attempt = 0;
            sendRequest(m, now);
          }
        } else {
          finishMember(*job, m, false, "join " + m.room + " as " + m.nick + " refused: " + std::string(p, nl));
        }
      } else if (m.state == State::Proving && type == "hb" && v.getStr("room") == m.room) {
        m.nextHbUs = now + m.heartbeatUs;
        wake(m.nextHbUs);
        finishMember(*job, m, true, "");
      }
    }
    p = nl + 1;
  }
}

// Join retries and timeouts, heartbeats.
void timers(int64_t now) {
  int64_t next = now + 1'000'000;
  for (size_t i = 0; i < members.size(); i++) {
    Member& m = members[i];
    if (m.state == State::Joining || m.state == State::Proving) {
      if (now >= m.deadlineUs) {
        if (m.attempt >= ATTEMPTS) {
          JoinJob* job = jobOf(i);
          std::string what = m.kind == Kind::Relay ? "the reply to register " + m.requestId
                             : m.state == State::Joining ? "the reply to join " + m.requestId
                                                         : "the hb reply in " + m.room;
          int64_t ms = (m.state == State::Joining && m.kind == Kind::Chatd ? JOIN_TIMEOUT_US : REQ_TIMEOUT_US) / 1000;
          if (job) finishMember(*job, m, false, "timed out after " + std::to_string(ms) + " ms waiting for " + what);
          continue;
        }
        sendRequest(m, now);
      }
      if (m.deadlineUs < next) next = m.deadlineUs;
    } else if (m.state == State::Ready && m.kind == Kind::Chatd) {
      if (now >= m.nextHbUs) {
        sendTo(m, m.hb, m.roomAddr);
        m.nextHbUs = now + m.heartbeatUs;
      }
      if (m.nextHbUs < next) next = m.nextHbUs;
    }
  }
  nextTimerUs = next;
}

// ---------------------------------------------------------------- commands

void onJoin(const JVal& cmd) {
  const JVal* target = cmd.get("target");
  const JVal* nicks = cmd.get("nicks");
  double block = cmd.getNum("addressBlock");
  if (!target || target->kind != JVal::Obj || !nicks || nicks->kind != JVal::Arr || !(block >= 0 && block < 256)) {
    replyError("join: bad command");
    return;
  }
  std::string kind = target->getStr("kind");
  Kind k;
  uint16_t port;
  std::string room;
  if (kind == "chatd") {
    k = Kind::Chatd;
    port = uint16_t(target->getNum("controlPort", 0));
    room = target->getStr("room");
  } else if (kind == "relay") {
    k = Kind::Relay;
    port = uint16_t(target->getNum("port", 0));
  } else {
    replyError("join: the native member worker has no " + kind + " members");
    return;
  }
  if (port == 0) {
    replyError("join: no port");
    return;
  }
  JoinJob job;
  job.first = members.size();
  job.count = nicks->arr.size();
  for (size_t i = 0; i < nicks->arr.size(); i++) {
    Member m;
    m.kind = k;
    m.nick = nicks->arr[i].str;
    m.room = room;
    m.address = clientAddress(int(block), i);
    m.control = loopback(port);
    if (k == Kind::Chatd) {
      m.requestId = "j-" + room + "-" + m.nick;
      m.request = "{\"type\":\"join\",\"id\":";
      jsonString(m.request, m.requestId);
      m.request += ",\"room\":";
      jsonString(m.request, room);
      m.request += ",\"nick\":";
      jsonString(m.request, m.nick);
      m.request += '}';
    } else {
      m.requestId = "reg-" + m.nick;
      m.request = "{\"type\":\"register\",\"id\":";
      jsonString(m.request, m.requestId);
      m.request += ",\"nick\":";
      jsonString(m.request, m.nick);
      m.request += '}';
    }
    members.push_back(std::move(m));
  }
  jobs.push_back(job);
  if (jobs.size() == 1) startMembers(jobs.front(), nowUs());
  completeJobs();  // an empty job is done at once
}

bool quitting = false;

void onCommand(const char* line, size_t n) {
  JVal cmd;
  if (!parseJson(line, n, cmd) || cmd.kind != JVal::Obj) {
    replyError("unparseable command: " + std::string(line, n));
    return;
  }
  std::string type = cmd.getStr("type");
  if (type == "join") onJoin(cmd);
  else if (type == "report") reply(report(cmd.getStr("tag")));
  else if (type == "quit") quitting = true;
  else replyError("unknown command " + type);
}

std::string stdinBuf;

void onStdin() {
  char buf[65536];
  for (;;) {
    ssize_t r = read(0, buf, sizeof buf);
    if (r == 0) {  // EOF: the driver is gone
      quitting = true;
      return;
    }
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      quitting = true;
      return;
    }
    stdinBuf.append(buf, size_t(r));
  }
  size_t start = 0;
  for (;;) {
    size_t nl = stdinBuf.find('\n', start);
    if (nl == std::string::npos) break;
    if (nl > start) onCommand(stdinBuf.data() + start, nl - start);
    start = nl + 1;
    if (quitting) break;
  }
  stdinBuf.erase(0, start);
}

// ---------------------------------------------------------------- receiving

constexpr int BATCH = 64;
constexpr size_t DGRAM_BYTES = 16384;  // chatd's and the relay's datagrams are <= 1,200 bytes
constexpr size_t CONTROL_BYTES = 64;   // one SCM_TIMESTAMPNS
mmsghdr msgs[BATCH];
iovec iovs[BATCH];
char* bufs;
alignas(cmsghdr) char controls[BATCH][CONTROL_BYTES];

// CLOCK_REALTIME minus CLOCK_MONOTONIC (µs), read once per wake-up: the
// kernel stamps datagrams on the real-time clock, the sender's text on the
// monotonic one. Both advance at the same (NTP-slewed) rate; only a step of
// the wall clock moves this, and it is re-read at every wake-up.
int64_t realMinusMonoUs = 0;

void readClockOffset() {
  timespec r, m;
  clock_gettime(CLOCK_REALTIME, &r);
  clock_gettime(CLOCK_MONOTONIC, &m);
  realMinusMonoUs = (int64_t(r.tv_sec) - int64_t(m.tv_sec)) * 1000000 + (r.tv_nsec - m.tv_nsec) / 1000;
}

// When the datagram reached the member's socket (monotonic µs): the kernel's
// receive timestamp (SO_TIMESTAMPNS), else `now`. So the latency measured
// does not include how long the datagram waited in the socket for this
// process to read it.
int64_t arrivalUs(msghdr& h, int64_t now) {
  for (cmsghdr* c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(&h, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
      timespec ts;
      memcpy(&ts, CMSG_DATA(c), sizeof ts);
      int64_t at = int64_t(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000 - realMinusMonoUs;
      return at < now ? at : now;
    }
  }
  return now;
}

// Datagrams read since the last wake-up.
uint64_t received = 0;
// A wake-up that read this many is worth its cost: no linger after it (the worker is busy).
constexpr uint64_t LINGER_BELOW = 1024;

void drain(size_t index) {
  for (;;) {
    Member& m = members[index];
    if (m.fd < 0) return;
    for (int k = 0; k < BATCH; k++) {
      msgs[k].msg_hdr.msg_flags = 0;
      msgs[k].msg_hdr.msg_controllen = CONTROL_BYTES;
    }
    int r = recvmmsg(m.fd, msgs, BATCH, MSG_DONTWAIT, nullptr);
    if (r <= 0) return;  // EAGAIN (drained), or an ICMP error queued on the socket: nothing to count
    int64_t now = nowUs();
    received += unsigned(r);
    for (int k = 0; k < r; k++) {
      size_t len = msgs[k].msg_len;
      if (len > DGRAM_BYTES) len = DGRAM_BYTES;
      const char* b = bufs + size_t(k) * DGRAM_BYTES;
      int64_t at = arrivalUs(msgs[k].msg_hdr, now);
      if (m.state != State::Ready) onControlDatagram(index, b, len, at);
      countDatagram(b, len, at);
    }
    if (r < BATCH) return;
  }
}

}  // namespace

int main(int argc, char** argv) {
  // --linger-us N: after a wake-up that read datagrams, sleep N µs before
  // waiting again, so that the next wake-up finds many datagrams queued
  // instead of one (a wake-up costs more than reading a datagram). The
  // kernel's receive timestamps keep the latencies exact; the sockets'
  // buffers hold far more than N µs of traffic.
  int64_t lingerUs = 1000;
  for (int i = 1; i + 1 < argc; i++)
    if (strcmp(argv[i], "--linger-us") == 0) lingerUs = atoll(argv[i + 1]);

  // Never outlive the driver: stdin EOF is the main signal, this the backstop.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  signal(SIGPIPE, SIG_IGN);

  bufs = static_cast<char*>(malloc(BATCH * DGRAM_BYTES));
  if (!bufs) return 1;
  for (int k = 0; k < BATCH; k++) {
    iovs[k].iov_base = bufs + size_t(k) * DGRAM_BYTES;
    iovs[k].iov_len = DGRAM_BYTES;
    msgs[k].msg_hdr = msghdr{};
    msgs[k].msg_hdr.msg_iov = &iovs[k];
    msgs[k].msg_hdr.msg_iovlen = 1;
    msgs[k].msg_hdr.msg_control = controls[k];
    msgs[k].msg_hdr.msg_controllen = CONTROL_BYTES;
  }

  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) return 1;
  fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = 0;
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &ev) < 0) return 1;

  constexpr int MAX_EVENTS = 256;
  epoll_event events[MAX_EVENTS];
  nextTimerUs = nowUs() + 1'000'000;
  while (!quitting) {
    int64_t now = nowUs();
    int64_t waitMs = nextTimerUs <= now ? 0 : (nextTimerUs - now + 999) / 1000;
    if (waitMs > 1000) waitMs = 1000;
    int n = epoll_wait(epfd, events, MAX_EVENTS, int(waitMs));
    if (n < 0 && errno != EINTR) break;
    readClockOffset();
    received = 0;
    for (int i = 0; i < n && !quitting; i++) {
      uint64_t key = events[i].data.u64;
      if (key == 0) onStdin();
      else drain(size_t(key - 1));
    }
    now = nowUs();
    if (now >= nextTimerUs) timers(now);
    if (received > 0 && received < LINGER_BELOW && lingerUs > 0 && !quitting) {
      timespec d{time_t(lingerUs / 1000000), long(lingerUs % 1000000) * 1000};
      nanosleep(&d, nullptr);
    }
  }
  for (auto& m : members)
    if (m.fd >= 0) close(m.fd);
  return 0;
}
