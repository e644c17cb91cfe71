// Capture on one interface: AF_PACKET SOCK_RAW, classic BPF attached before the socket is bound (so no
// unfiltered packet is ever queued), SO_TIMESTAMPNS, PACKET_AUXDATA, nonblocking, recvmmsg in batches.
//
// Design: recvmmsg + uv_poll rather than a TPACKET_V3 ring. Each packet is copied into a JS Buffer anyway
// (the consumer keeps them), so a ring saves no copy; recvmmsg gives the same one-syscall-per-batch cost,
// per-packet cmsg timestamps and auxdata, and no mmap lifetime to manage across close-in-callback. Each
// wake reads at most `maxPerWake` packets and returns to the loop (uv_poll is level-triggered, so the rest
// is read on the next turn): timers and I/O keep running while a flood is captured.
#include "capture.h"
#include "layout.h"

#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "errors.h"
#include "modules.h"
#include "netns.h"
#include "sender.h"

namespace tcplab {
namespace {

constexpr size_t kSnap = 65536 + 64;  // a whole GSO/TSO super-frame fits; never truncated on veth
constexpr size_t kCtrl = CMSG_SPACE(sizeof(struct timespec)) + CMSG_SPACE(sizeof(struct tpacket_auxdata)) + 64;

// The uv handle outlives the JS object if needed: it is freed (and the fd closed) in the close callback.
struct PollBox {
  uv_poll_t poll;
  int fd;
};

std::vector<sock_filter> ParseFilter(Napi::Env env, const Napi::Value& v) {
  std::vector<sock_filter> prog;
  if (v.IsUndefined() || v.IsNull()) return prog;
  if (!v.IsArray()) ThrowType(env, "filter", "must be an array of {code, jt, jf, k} (classic BPF), e.g. from compileMatch()");
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() > BPF_MAXINSNS) ThrowRange(env, "filter", "has more than 4096 instructions");
  for (uint32_t i = 0; i < a.Length(); i++) {
    std::string f = "filter[" + std::to_string(i) + "]";
    Napi::Value iv = a.Get(i);
    if (!iv.IsObject()) ThrowType(env, f, "must be an object {code, jt, jf, k}");
    Napi::Object o = iv.As<Napi::Object>();
    auto num = [&](const char* key, double max) {
      Napi::Value x = o.Get(key);
      if (!x.IsNumber()) ThrowType(env, f + "." + key, "must be a number");
      double d = x.As<Napi::Number>().DoubleValue();
      if (!(d >= 0 && d <= max) || d != double(uint64_t(d))) ThrowRange(env, f + "." + key, "out of range");
      return uint64_t(d);
    };
    sock_filter ins{};
    ins.code = uint16_t(num("code", 0xffff));
    ins.jt = uint8_t(num("jt", 255));
    ins.jf = uint8_t(num("jf", 255));
    ins.k = uint32_t(num("k", 4294967295.0));
    prog.push_back(ins);
  }
  return prog;
}

void AttachFilter(Napi::Env env, int fd, std::vector<sock_filter>& prog) {
  if (prog.empty()) return;
  sock_fprog fp{};
  fp.len = uint16_t(prog.size());
  fp.filter = prog.data();
  if (::setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof fp) != 0)
    throw SysError(env, "setsockopt", errno, "SO_ATTACH_FILTER (the kernel rejected the BPF program)");
}

class Capture : public Napi::ObjectWrap<Capture> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Capture",
                       {InstanceMethod("pause", &Capture::Pause), InstanceMethod("resume", &Capture::Resume),
                        InstanceMethod("close", &Capture::Close), InstanceMethod("stats", &Capture::Stats),
                        InstanceMethod("setFilter", &Capture::SetFilter), InstanceMethod("ref", &Capture::RefLoop),
                        InstanceMethod("unref", &Capture::UnrefLoop),
                        InstanceAccessor("closed", &Capture::Closed, nullptr),
                        InstanceAccessor("ifindex", &Capture::Ifindex, nullptr)});
  }

  explicit Capture(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Capture>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsObject()) ThrowType(env, "options", "must be an object {ifname, netns?, filter?, onPackets}");
    Napi::Object o = info[0].As<Napi::Object>();
    std::string ifname = IfnameArg(env, o.Get("ifname"), "ifname");
    std::string netns = NetnsArg(env, o.Get("netns"), "netns");
    Napi::Value co = o.Get("countOnly");
    if (!co.IsUndefined() && !co.IsBoolean()) ThrowType(env, "countOnly", "must be a boolean");
    countOnly_ = co.IsBoolean() && co.As<Napi::Boolean>().Value();
    if (!countOnly_ && !o.Get("onPackets").IsFunction()) ThrowType(env, "onPackets", "must be a function(data, meta, ts)");
    auto intOpt = [&](const char* key, int dflt, int lo, int hi) {
      Napi::Value v = o.Get(key);
      if (v.IsUndefined()) return dflt;
      if (!v.IsNumber()) ThrowType(env, key, "must be a number");
      double d = v.As<Napi::Number>().DoubleValue();
      if (!(d >= lo && d <= hi) || d != double(int64_t(d)))
        ThrowRange(env, key, "must be an integer " + std::to_string(lo) + ".." + std::to_string(hi));
      return int(d);
    };
    batch_ = intOpt("batch", 64, 1, 1024);
    maxPerWake_ = intOpt("maxPerWake", 512, 1, 1 << 20);
    int rcvbuf = intOpt("rcvbuf", 8 << 20, 4096, 1 << 30);
    std::vector<sock_filter> prog = ParseFilter(env, o.Get("filter"));

    int fd;
    {
      NetnsGuard guard(env, netns);
      ifindex_ = LookupInterface(env, ifname).ifindex;
      // Protocol 0: no packet is queued until bind(), by which time the filter is attached.
      fd = ::socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) throw SysError(env, "socket", errno, "AF_PACKET capture on " + ifname);
    }
    try {
      AttachFilter(env, fd, prog);
      // Nothing can be queued yet (protocol 0), but drain anyway so no unfiltered packet ever reaches JS.
      uint8_t scratch[64];
      while (::recv(fd, scratch, sizeof scratch, MSG_DONTWAIT | MSG_TRUNC) >= 0) {
      }
      int one = 1;
      if (countOnly_) {
        MapRing(env, fd, rcvbuf);
      } else {
        if (::setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one) != 0)
          throw SysError(env, "setsockopt", errno, "SO_TIMESTAMPNS");
        if (::setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof one) != 0)
          throw SysError(env, "setsockopt", errno, "PACKET_AUXDATA");
        if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0)
          ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
      }
      sockaddr_ll sll{};
      sll.sll_family = AF_PACKET;
      sll.sll_protocol = htons(ETH_P_ALL);  // ETH_P_IP would miss outgoing frames
      sll.sll_ifindex = ifindex_;
      if (::bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0)
        throw SysError(env, "bind", errno, "AF_PACKET capture on " + ifname);
    } catch (...) {
      UnmapRing();
      ::close(fd);
      throw;
    }

    slots_.resize(size_t(batch_));
    msgs_.resize(size_t(batch_));
    if (!countOnly_) {
      // Uninitialized on purpose: pages are only touched (and counted in RSS) as packets land in them.
      data_.reset(new uint8_t[size_t(batch_) * kSnap]);
      for (int i = 0; i < batch_; i++) {
        Slot& s = slots_[size_t(i)];
        s.iov = iovec{data_.get() + size_t(i) * kSnap, kSnap};
      }
      onPackets_ = Napi::Persistent(o.Get("onPackets").As<Napi::Function>());
    }
    asyncCtx_ = std::make_unique<Napi::AsyncContext>(env, "tcplab.Capture");
    env_ = env;

    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || !loop) {
      UnmapRing();
      ::close(fd);
      throw Napi::Error::New(env, "Capture: cannot get the libuv loop");
    }
    box_ = new PollBox{};
    box_->fd = fd;
    box_->poll.data = this;
    int r = uv_poll_init(loop, &box_->poll, fd);
    if (r != 0) {
      UnmapRing();
      ::close(fd);
      delete box_;
      box_ = nullptr;
      throw Napi::Error::New(env, std::string("uv_poll_init failed: ") + uv_strerror(r));
    }
    Start();
    Ref();  // alive while open: the loop calls into this object
  }

  ~Capture() override { Shutdown(); }

 private:
  struct Slot {
    iovec iov;
    sockaddr_ll addr;
    alignas(cmsghdr) uint8_t ctrl[kCtrl];
  };

  // countOnly: a TPACKET_V3 ring of ~rcvbuf bytes (1 MiB blocks). The kernel writes packets into it and
  // wakes the reader once per block, so counting costs no syscall and no wakeup per packet (a recvmmsg
  // reader costs the flooding side ~2.5x in packet rate on 2 cores: per-packet skb clone, queueing and
  // wakeups). The regular path stays on recvmmsg: a V3 block is only handed over when full or after its
  // retire timer (>= 1 jiffy), which would delay single packets that labs wait for.
  void MapRing(Napi::Env env, int fd, int rcvbuf) {
    int v = TPACKET_V3;
    if (::setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v, sizeof v) != 0)
      throw SysError(env, "setsockopt", errno, "PACKET_VERSION TPACKET_V3");
    tpacket_req3 req{};
    req.tp_block_size = 1u << 20;
    req.tp_block_nr = unsigned(std::max(4, rcvbuf >> 20));
    req.tp_frame_size = 2048;
    req.tp_frame_nr = req.tp_block_size / req.tp_frame_size * req.tp_block_nr;
    req.tp_retire_blk_tov = 10;  // ms
    if (::setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) != 0)
      throw SysError(env, "setsockopt", errno, "PACKET_RX_RING");
    size_t len = size_t(req.tp_block_size) * req.tp_block_nr;
    void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) throw SysError(env, "mmap", errno, "TPACKET_V3 ring");
    ring_ = static_cast<uint8_t*>(p);
    ringLen_ = len;
    blockSize_ = req.tp_block_size;
    blockNr_ = req.tp_block_nr;
  }
  void UnmapRing() {
    if (ring_) ::munmap(ring_, ringLen_);
    ring_ = nullptr;
  }

  void Start() {
    if (box_ && !paused_) uv_poll_start(&box_->poll, UV_READABLE, OnPoll);
  }

  // Stops polling and hands the handle to libuv to close; the fd is closed in the close callback.
  void Shutdown() {
    if (!box_) return;
    uv_poll_stop(&box_->poll);
    box_->poll.data = box_;
    uv_close(reinterpret_cast<uv_handle_t*>(&box_->poll), [](uv_handle_t* h) {
      PollBox* b = static_cast<PollBox*>(h->data);
      ClosePacketSocket(b->fd);
      delete b;
    });
    box_ = nullptr;
    // Release the receive buffers now rather than when the JS object is collected. Safe inside the
    // callback: Drain() has copied the batch out already and stops once box_ is null.
    data_.reset();
    UnmapRing();  // the socket keeps its own reference to the ring pages until it is closed
    std::vector<Slot>().swap(slots_);
    std::vector<mmsghdr>().swap(msgs_);
  }

  static void OnPoll(uv_poll_t* h, int status, int events) {
    Capture* self = static_cast<Capture*>(h->data);
    if (status < 0) {
      // A broken socket would report readable forever: count it (stats().readErrors) and stop polling.
      self->readErrors_++;
      uv_poll_stop(h);
      return;
    }
    self->Drain();
  }

  // countOnly: hand every filled block back to the kernel, counting its packets. No JS at all.
  void DrainCount() {
    while (box_ && !paused_ && ring_) {
      auto* bd = reinterpret_cast<tpacket_block_desc*>(ring_ + size_t(blk_) * blockSize_);
      if (!(__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)) break;
      delivered_ += bd->hdr.bh1.num_pkts;
      __atomic_store_n(&bd->hdr.bh1.block_status, uint32_t(TP_STATUS_KERNEL), __ATOMIC_RELEASE);
      blk_ = (blk_ + 1) % blockNr_;
    }
  }

  void Drain() {
    if (countOnly_) return DrainCount();
    Napi::Env env = env_;
    Napi::HandleScope scope(env);
    Napi::Object self = Value();  // keeps this object alive even if the callback closes it
    int budget = maxPerWake_;
    while (box_ && !paused_ && budget > 0) {
      int want = std::min(batch_, budget);
      for (int i = 0; i < want; i++) {
        Slot& s = slots_[size_t(i)];
        std::memset(&msgs_[size_t(i)], 0, sizeof(mmsghdr));
        msghdr& m = msgs_[size_t(i)].msg_hdr;
        m.msg_name = &s.addr;
        m.msg_namelen = sizeof s.addr;
        m.msg_iov = &s.iov;
        m.msg_iovlen = 1;
        m.msg_control = s.ctrl;
        m.msg_controllen = sizeof s.ctrl;
      }
      int n = ::recvmmsg(box_->fd, msgs_.data(), unsigned(want), MSG_DONTWAIT, nullptr);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        readErrors_++;
        break;
      }
      if (n == 0) break;
      Napi::Value args[3];
      Batch(env, n, args);
      delivered_ += uint64_t(n);
      budget -= n;
      try {
        onPackets_.MakeCallback(self, {args[0], args[1], args[2]}, *asyncCtx_);
      } catch (const Napi::Error& e) {
        // An exception in the consumer is the consumer's bug: report it as uncaught, keep capturing.
        napi_fatal_exception(env, e.Value());
      }
      if (n < want) break;
    }
  }

  // One batch crosses into JS as three objects, whatever its size: every frame in one Buffer, and per
  // packet [offset, length, origLen, ifindex, flags] (flags: 1 outgoing, 2 checksum offloaded) plus the
  // kernel timestamp. Building one JS object per packet here costs 3-4x more (string keys, transitions).
  void Batch(Napi::Env env, int n, Napi::Value* args) {
    size_t total = 0;
    for (int i = 0; i < n; i++) total += std::min<size_t>(msgs_[size_t(i)].msg_len, kSnap);
    Napi::Buffer<uint8_t> data = Napi::Buffer<uint8_t>::New(env, total);
    Napi::Uint32Array meta = Napi::Uint32Array::New(env, size_t(n) * CaptureMeta::kStride);
    Napi::BigUint64Array ts = Napi::BigUint64Array::New(env, size_t(n));
    size_t off = 0;
    for (int i = 0; i < n; i++) {
      Slot& s = slots_[size_t(i)];
      msghdr& m = msgs_[size_t(i)].msg_hdr;
      size_t len = std::min<size_t>(msgs_[size_t(i)].msg_len, kSnap);
      uint64_t t = 0;
      uint32_t flags = s.addr.sll_pkttype == PACKET_OUTGOING ? uint32_t(CaptureFlag::outgoing) : 0;
      uint32_t origLen = uint32_t(len);
      for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
          timespec tv;
          std::memcpy(&tv, CMSG_DATA(c), sizeof tv);
          t = uint64_t(tv.tv_sec) * 1000000000ull + uint64_t(tv.tv_nsec);
        } else if (c->cmsg_level == SOL_PACKET && c->cmsg_type == PACKET_AUXDATA) {
          tpacket_auxdata aux;
          std::memcpy(&aux, CMSG_DATA(c), sizeof aux);
          if (aux.tp_status & TP_STATUS_CSUMNOTREADY) flags |= CaptureFlag::csumOffloaded;
          origLen = aux.tp_len;
        }
      }
      if (t == 0) {  // never expected with SO_TIMESTAMPNS; keep the field meaningful anyway
        timespec tv;
        clock_gettime(CLOCK_REALTIME, &tv);
        t = uint64_t(tv.tv_sec) * 1000000000ull + uint64_t(tv.tv_nsec);
      }
      std::memcpy(data.Data() + off, s.iov.iov_base, len);
      uint32_t* mm = meta.Data() + size_t(i) * CaptureMeta::kStride;  // layout: native/layout.json
      mm[CaptureMeta::offset] = uint32_t(off);
      mm[CaptureMeta::length] = uint32_t(len);
      mm[CaptureMeta::origLen] = origLen;
      mm[CaptureMeta::ifindex] = uint32_t(s.addr.sll_ifindex);
      mm[CaptureMeta::flags] = flags;
      ts.Data()[i] = t;
      off += len;
    }
    args[0] = data;
    args[1] = meta;
    args[2] = ts;
  }

  void CheckOpen(Napi::Env env) {
    if (!box_) throw ClosedError(env, "Capture");
  }

  Napi::Value Pause(const Napi::CallbackInfo& info) {
    CheckOpen(info.Env());
    paused_ = true;
    uv_poll_stop(&box_->poll);
    return info.Env().Undefined();
  }
  Napi::Value Resume(const Napi::CallbackInfo& info) {
    CheckOpen(info.Env());
    paused_ = false;
    Start();
    return info.Env().Undefined();
  }
  Napi::Value RefLoop(const Napi::CallbackInfo& info) {
    CheckOpen(info.Env());
    uv_ref(reinterpret_cast<uv_handle_t*>(&box_->poll));
    return info.Env().Undefined();
  }
  Napi::Value UnrefLoop(const Napi::CallbackInfo& info) {
    CheckOpen(info.Env());
    uv_unref(reinterpret_cast<uv_handle_t*>(&box_->poll));
    return info.Env().Undefined();
  }

  // close(): safe twice and from inside onPackets. Releases the fd, the poll handle and the callback.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (box_) {
      Shutdown();
      // The callback usually closes over the object that owns this capture (a Wire holds it): as a strong
      // reference it would keep that whole cycle, captured packets included, alive forever after close.
      onPackets_.Reset();
      Unref();
    }
    return info.Env().Undefined();
  }

  Napi::Value Closed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), box_ == nullptr); }
  Napi::Value Ifindex(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), ifindex_); }

  // stats() -> {received, dropped}: PACKET_STATISTICS resets on read, so the totals are kept here.
  // received counts every packet the filter accepted (dropped ones included, as libpcap's ps_recv).
  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    tpacket_stats st{};
    socklen_t sl = sizeof st;
    if (::getsockopt(box_->fd, SOL_PACKET, PACKET_STATISTICS, &st, &sl) != 0)
      throw SysError(env, "getsockopt", errno, "PACKET_STATISTICS");
    received_ += st.tp_packets;
    dropped_ += st.tp_drops;
    Napi::Object o = Napi::Object::New(env);
    o.Set("received", Napi::Number::New(env, double(received_)));
    o.Set("dropped", Napi::Number::New(env, double(dropped_)));
    o.Set("readErrors", Napi::Number::New(env, double(readErrors_)));
    o.Set("delivered", Napi::Number::New(env, double(delivered_)));
    return o;
  }

  // setFilter(prog): replaces the BPF program atomically (an empty array keeps the current one).
  Napi::Value SetFilter(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    std::vector<sock_filter> prog = ParseFilter(env, info[0]);
    AttachFilter(env, box_->fd, prog);
    return env.Undefined();
  }

  Napi::Env env_ = nullptr;
  PollBox* box_ = nullptr;
  bool paused_ = false;
  int batch_ = 64, maxPerWake_ = 512;
  int ifindex_ = 0;
  bool countOnly_ = false;
  uint8_t* ring_ = nullptr;
  size_t ringLen_ = 0;
  unsigned blockSize_ = 0, blockNr_ = 0, blk_ = 0;
  uint64_t received_ = 0, dropped_ = 0, readErrors_ = 0, delivered_ = 0;
  std::vector<Slot> slots_;
  std::unique_ptr<uint8_t[]> data_;
  std::vector<mmsghdr> msgs_;
  Napi::FunctionReference onPackets_;
  std::unique_ptr<Napi::AsyncContext> asyncCtx_;
};

}  // namespace

void InitCapture(Napi::Env env, Napi::Object exports) { exports.Set("Capture", Capture::Define(env)); }

}  // namespace tcplab
