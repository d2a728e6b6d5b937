// Batched UDP sends for the room's fan-out: the same few datagrams go to
// every member each turn, and Node's dgram makes that one sendmsg(2) and
// ~2 µs of JavaScript per datagram (bench/send-cost.ts). sendmmsg(2) sends
// up to 1,024 of them per system call from one table built here, on the
// room's own socket (so the source port stays the room's port).
//
// Contract (rooms/udp-batch.ts is the only caller):
// - sockaddr(family, address, port) -> Buffer | undefined: a sockaddr for
//   the socket's family (4 or 6), built once per member; undefined if the
//   address does not parse (the member then goes through dgram).
// - sendToAll(fd, datagrams, addrs) -> n: sends every datagram to every
//   address, address-major (all datagrams of addrs[0] first, in order),
//   never blocking (MSG_DONTWAIT). Returns how many messages went out, in
//   that order; the caller sends the rest through dgram, which queues them
//   in libuv (a full socket buffer) or reports the error. It never throws
//   for a send error, and never keeps a pointer past the call.
#include <node_api.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include <vector>

namespace {

constexpr unsigned kMaxBatch = 1024;  // UIO_MAXIOV: the most sendmmsg takes per call

struct Batch {
  std::vector<mmsghdr> msgs;
  std::vector<iovec> iovs;
};

Batch& batch() {
  static Batch b;  // reused across calls: no allocation per turn once grown
  return b;
}

napi_value Undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

napi_value Throw(napi_env env, const char* message) {
  napi_throw_type_error(env, nullptr, message);
  return nullptr;
}

napi_value Sockaddr(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc != 3) return Throw(env, "sockaddr(family, address, port)");
  int32_t family = 0;
  int32_t port = 0;
  char address[INET6_ADDRSTRLEN + 1];
  size_t len = 0;
  if (napi_get_value_int32(env, argv[0], &family) != napi_ok) return Throw(env, "family must be 4 or 6");
  if (napi_get_value_string_utf8(env, argv[1], address, sizeof address, &len) != napi_ok) return Throw(env, "address must be a string");
  if (napi_get_value_int32(env, argv[2], &port) != napi_ok || port < 0 || port > 65535) return Throw(env, "port must be 0..65535");
  if (len >= sizeof address - 1) return Undefined(env);  // too long for a literal: truncated

  void* data = nullptr;
  napi_value out;
  if (family == 4) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, address, &sa.sin_addr) != 1) return Undefined(env);
    if (napi_create_buffer_copy(env, sizeof sa, &sa, &data, &out) != napi_ok) return Undefined(env);
    return out;
  }
  if (family == 6) {
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(static_cast<uint16_t>(port));
    // A scoped address ("fe80::1%eth0") does not parse: that member uses dgram.
    if (inet_pton(AF_INET6, address, &sa.sin6_addr) != 1) return Undefined(env);
    if (napi_create_buffer_copy(env, sizeof sa, &sa, &data, &out) != napi_ok) return Undefined(env);
    return out;
  }
  return Throw(env, "family must be 4 or 6");
}

// Reads a Buffer (or Uint8Array) element of a JS array.
bool BufferAt(napi_env env, napi_value array, uint32_t i, void** data, size_t* len) {
  napi_value v;
  bool is = false;
  if (napi_get_element(env, array, i, &v) != napi_ok) return false;
  if (napi_is_buffer(env, v, &is) != napi_ok || !is) return false;
  return napi_get_buffer_info(env, v, data, len) == napi_ok;
}

napi_value SendToAll(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc != 3) return Throw(env, "sendToAll(fd, datagrams, addrs)");
  int32_t fd = -1;
  uint32_t nd = 0;
  uint32_t na = 0;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) return Throw(env, "fd must be a file descriptor");
  if (napi_get_array_length(env, argv[1], &nd) != napi_ok) return Throw(env, "datagrams must be an array of Buffers");
  if (napi_get_array_length(env, argv[2], &na) != napi_ok) return Throw(env, "addrs must be an array of Buffers");

  Batch& b = batch();
  b.iovs.resize(nd);
  for (uint32_t j = 0; j < nd; j++) {
    void* data = nullptr;
    size_t len = 0;
    if (!BufferAt(env, argv[1], j, &data, &len)) return Throw(env, "datagrams must be an array of Buffers");
    b.iovs[j].iov_base = data;
    b.iovs[j].iov_len = len;
  }
  const size_t total = static_cast<size_t>(nd) * na;
  b.msgs.resize(total);
  for (uint32_t i = 0; i < na; i++) {
    void* sa = nullptr;
    size_t salen = 0;
    if (!BufferAt(env, argv[2], i, &sa, &salen) || (salen != sizeof(sockaddr_in) && salen != sizeof(sockaddr_in6))) {
      return Throw(env, "addrs must be sockaddr Buffers from sockaddr()");
    }
    for (uint32_t j = 0; j < nd; j++) {
      mmsghdr& m = b.msgs[static_cast<size_t>(i) * nd + j];
      memset(&m, 0, sizeof m);
      m.msg_hdr.msg_name = sa;
      m.msg_hdr.msg_namelen = static_cast<socklen_t>(salen);
      m.msg_hdr.msg_iov = &b.iovs[j];
      m.msg_hdr.msg_iovlen = 1;
    }
  }

  size_t sent = 0;
  while (sent < total) {
    const unsigned n = static_cast<unsigned>(total - sent < kMaxBatch ? total - sent : kMaxBatch);
    const int r = sendmmsg(fd, &b.msgs[sent], n, MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EINTR) continue;
      break;  // EAGAIN (buffer full) or a destination's error: dgram takes it from here
    }
    sent += static_cast<size_t>(r);
    if (static_cast<unsigned>(r) < n) break;  // stopped short: the next message would block or fail
  }
  napi_value out;
  napi_create_double(env, static_cast<double>(sent), &out);
  return out;
}

napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"sockaddr", nullptr, Sockaddr, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"sendToAll", nullptr, SendToAll, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
