#include "server/http_session.h"

#include <malloc.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>

#include "mlxcel/errors.h"
#include "server/http_parsers.h"

namespace mlxcel::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

PeerState peer_state(int fd) {
  pollfd p{fd, POLLIN | POLLRDHUP, 0};
  const int ready = poll(&p, 1, 0);
  if (ready <= 0) return PeerState::Open;  // nothing to read: the client is waiting
  if (p.revents & (POLLERR | POLLHUP | POLLNVAL)) return PeerState::Gone;
  char byte = 0;
  const ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n > 0) return PeerState::Open;  // more bytes: a pipelined request
  if (n == 0) return PeerState::HalfClosed;
  return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? PeerState::Open
                                                                   : PeerState::Gone;
}

namespace {

// Read buffer bound: a header (max_header_bytes) plus what one read brings; body bytes leave it
// as the parser consumes them.
constexpr size_t kReadBufferLimit = 256u << 10;
// Requests whose bodies were this large give their memory back to the system afterwards: a
// 1 MiB body of tiny chat messages leaves ~50 MiB of freed heap behind (docs/server.md).
constexpr uint64_t kTrimAfterBody = 64u << 10;
// A non-streamed answer's client is looked at this often while it is computed.
constexpr auto kPeerCheckInterval = std::chrono::milliseconds(250);
// A waiting stream gets an SSE comment this often (a vanished client fails the write).
constexpr auto kStreamKeepAlive = std::chrono::seconds(1);
// After the last response of a connection, unread client bytes are drained this long before the
// socket closes, so the close does not reset the connection before the client read the answer.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr size_t kLingerBytes = 16u << 20;

std::string chunk(std::string_view data) {
  return fmt::format("{:x}\r\n", data.size()).append(data).append("\r\n");
}

const char* reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 431: return "Request Header Fields Too Large";
    case 499: return "Client Closed Request";
    case 503: return "Service Unavailable";
    default: return status >= 500 ? "Internal Server Error" : "Bad Request";
  }
}

}  // namespace

class Session;

struct Transport::Impl {
  // Declared before the io_context: its destruction destroys pending handlers, whose sessions
  // still count themselves out here.
  Router& router;
  TransportLimits limits;
  unsigned io_threads;
  std::atomic<uint32_t> live{0};
  std::atomic<uint64_t> body_reserved{0};
  std::atomic<bool> stopping{false};
  std::mutex sessions_mutex;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions;
  asio::io_context ioc;
  tcp::acceptor acceptor{ioc};
  asio::steady_timer grace{ioc};
  Clock::time_point grace_end;
  asio::thread_pool prep;

  Impl(Router& r, TransportLimits l, unsigned io, unsigned prep_threads)
      : router(r), limits(l), io_threads(std::max(1u, io)), prep(std::max(1u, prep_threads)) {}

  // After stop: returns from run() as soon as the last connection ended, or at the grace end.
  void wait_for_sessions() {
    if (live.load() == 0 || Clock::now() >= grace_end) return ioc.stop();
    grace.expires_after(std::chrono::milliseconds(20));
    grace.async_wait([this](beast::error_code ec) {
      if (!ec) wait_for_sessions();
    });
  }

  void accept();
  void refuse(tcp::socket socket);

  bool reserve_body(uint64_t bytes) {
    uint64_t cur = body_reserved.load();
    do {
      if (cur + bytes > limits.body_budget) return false;
    } while (!body_reserved.compare_exchange_weak(cur, cur + bytes));
    return true;
  }
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Transport::Impl& t, tcp::socket socket)
      : t_(t), stream_(std::move(socket)), buffer_(kReadBufferLimit),
        timer_(stream_.get_executor()), deadline_(stream_.get_executor()) {
    t_.live.fetch_add(1);
  }
  ~Session() {
    release_body();
    if (gen_) gen_->cancel();
    {
      std::lock_guard lock(t_.sessions_mutex);
      t_.sessions.erase(this);
    }
    t_.live.fetch_sub(1);
  }

  void start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_head(); });
  }

  // From Transport::stop: an idle connection closes now, a busy one after its response.
  void stop_soon() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      self->keep_alive_ = false;
      if (!self->in_request_) self->close_now();
    });
  }

 private:
  // ---- reading -------------------------------------------------------------------------------
  // Read deadlines have their own timer: tcp_stream's own timeout closes the socket, and a
  // client whose header or body is too slow must still get its 408.
  void arm_deadline(std::chrono::steady_clock::duration d) {
    stream_.expires_never();
    deadline_hit_ = false;
    const uint64_t id = ++deadline_id_;
    deadline_.expires_after(d);
    deadline_.async_wait([self = shared_from_this(), id](beast::error_code ec) {
      // A read that completed first disarmed this deadline (its id moved on).
      if (ec || id != self->deadline_id_ || self->closed_) return;
      self->deadline_hit_ = true;
      beast::error_code ignored;
      self->stream_.socket().cancel(ignored);
    });
  }

  // Stops the read deadline; true when it had fired (the read failed because of it).
  bool disarm_deadline() {
    ++deadline_id_;
    deadline_.cancel();
    return std::exchange(deadline_hit_, false);
  }

  void read_head() {
    if (t_.stopping) return close_now();
    in_request_ = false;
    head_ = RequestHead{};
    head_parser_.emplace();
    limit_head_parser(*head_parser_, t_.limits);
    arm_deadline(first_request_ ? t_.limits.header_timeout : t_.limits.keep_alive);
    http::async_read_header(stream_, buffer_, *head_parser_,
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              self->on_head(ec);
                            });
  }

  void on_head(beast::error_code ec) {
    const bool timed_out = disarm_deadline();
    if (ec) {
      const bool started = head_parser_->got_some() || buffer_.size() > 0;
      if (timed_out) {
        if (!started) return close_now();  // an idle keep-alive connection
        return reply_error_and_close(
            ApiError(408, "the request header did not arrive within the server's deadline",
                     "request_timeout"));
      }
      if (ec == http::error::end_of_stream || ec == asio::error::eof ||
          ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
          !started) {
        return close_now();
      }
      if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
        return reply_error_and_close(ApiError(431, "request header fields too large",
                                              "request_header_too_large"));
      }
      return reply_error_and_close(ApiError(
          400, "malformed HTTP request (" + ec.message() + ")", "invalid_http"));
    }
    in_request_ = true;
    const auto& req = head_parser_->get();
    head_ = RequestHead{};
    head_.method = std::string(req.method_string());
    const std::string target(req.target());
    head_.path = target.substr(0, target.find('?'));
    if (auto it = req.find(http::field::authorization); it != req.end()) {
      head_.authorization = std::string(it->value());
      head_.has_authorization = true;
    }
    if (auto cl = head_parser_->content_length()) head_.content_length = *cl;
    head_.chunked = head_parser_->chunked();
    keep_alive_ = keep_alive_ && req.keep_alive();
    http11_ = req.version() >= 11;
    const bool has_body = head_.chunked || head_.content_length.value_or(0) > 0;

    std::optional<HttpReply> early;
    try {
      early = t_.router.check_head(head_);
    } catch (const ApiError& e) {
      early = error_reply(e);
    }
    if (!early && has_body && head_.content_length.value_or(0) > t_.limits.max_body) {
      early = error_reply(ApiError(
          413,
          fmt::format("the request body ({} bytes) is larger than the server's limit (--max-body, "
                      "{} bytes)",
                      *head_.content_length, t_.limits.max_body),
          "request_too_large"));
    }
    if (!early && has_body) {
      const uint64_t need = head_.chunked ? t_.limits.max_body : *head_.content_length;
      if (!t_.reserve_body(need)) {
        early = error_reply(ApiError(503,
                                     "the server is reading as many request bodies as its memory "
                                     "plan allows; retry shortly",
                                     "server_overloaded"));
        early->headers.emplace_back("Retry-After", "1");
      } else {
        reserved_ = need;
      }
    }
    if (early) {
      // An unread body cannot be skipped reliably: the connection ends after the answer.
      if (has_body) keep_alive_ = false;
      return write_reply(std::move(*early));
    }
    if (!has_body) return dispatch(std::string());

    body_parser_.emplace(std::move(*head_parser_));
    limit_body_parser(*body_parser_, t_.limits, head_.chunked);
    if (beast::iequals(body_parser_->get()[http::field::expect], "100-continue")) {
      out_ = "HTTP/1.1 100 Continue\r\n\r\n";
      stream_.expires_after(t_.limits.write_timeout);
      return asio::async_write(stream_, asio::buffer(out_),
                               [self = shared_from_this()](beast::error_code ec, size_t) {
                                 if (ec) return self->close_now();
                                 self->read_body();
                               });
    }
    read_body();
  }

  void read_body() {
    arm_deadline(t_.limits.body_timeout);
    http::async_read(stream_, buffer_, *body_parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       self->on_body(ec);
                     });
  }

  void on_body(beast::error_code ec) {
    const bool timed_out = disarm_deadline();
    if (ec) {
      keep_alive_ = false;
      release_body();
      if (timed_out) {
        return reply_error_and_close(ApiError(
            408, "the request body did not arrive within the server's deadline",
            "request_timeout"));
      }
      if (ec == http::error::body_limit) {
        return reply_error_and_close(ApiError(
            413,
            fmt::format("the request body is larger than the server's limit (--max-body, {} bytes)",
                        t_.limits.max_body),
            "request_too_large"));
      }
      if (ec == http::error::end_of_stream || ec == asio::error::eof ||
          ec == http::error::partial_message || ec == asio::error::connection_reset ||
          ec == asio::error::operation_aborted) {
        return close_now();
      }
      return reply_error_and_close(
          ApiError(400, "malformed HTTP request body (" + ec.message() + ")", "invalid_http"));
    }
    std::string body = body_parser_->release().body();
    body_parser_.reset();
    dispatch(std::move(body));
  }

  // POST handlers may render and tokenize a large prompt: they run on the preparation pool, so
  // the I/O threads keep answering /health and reading other clients meanwhile.
  void dispatch(std::string body) {
    stream_.expires_never();
    const bool heavy = head_.method == "POST";
    if (!heavy) return on_handled(run_router(std::move(body)));
    const bool trim = body.size() >= kTrimAfterBody;
    asio::post(t_.prep, [self = shared_from_this(), body = std::move(body), trim]() mutable {
      auto outcome = self->run_router(std::move(body));
      if (trim) malloc_trim(0);  // large request strings go back to the system
      asio::post(self->stream_.get_executor(),
                 [self, outcome = std::move(outcome)]() mutable {
                   self->on_handled(std::move(outcome));
                 });
    });
  }

  std::variant<HttpReply, GenerationReply> run_router(std::string body) {
    try {
      return t_.router.handle(head_, std::move(body));
    } catch (const ApiError& e) {
      return error_reply(e);
    } catch (const std::exception& e) {
      spdlog::error("[server] {} {}: {}", head_.method, head_.path, e.what());
      return error_reply(ApiError(500, std::string("internal error: ") + e.what(),
                                  "internal_error"));
    }
  }

  void on_handled(std::variant<HttpReply, GenerationReply> outcome) {
    release_body();
    if (closed_) return;
    if (auto* reply = std::get_if<HttpReply>(&outcome)) return write_reply(std::move(*reply));
    start_generation(std::move(std::get<GenerationReply>(outcome)));
  }

  void release_body() {
    if (reserved_) t_.body_reserved.fetch_sub(reserved_);
    reserved_ = 0;
  }

  // ---- complete responses --------------------------------------------------------------------
  std::string head_text(int status, std::string_view content_type,
                        const std::vector<std::pair<std::string, std::string>>& headers,
                        std::optional<size_t> length) const {
    std::string h = fmt::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\n", status,
                                reason_phrase(status), content_type);
    for (const auto& [k, v] : headers) h += k + ": " + v + "\r\n";
    if (length) {
      h += fmt::format("Content-Length: {}\r\n", *length);
    } else if (http11_) {
      h += "Transfer-Encoding: chunked\r\n";
    }
    h += keep_alive_ && (length || http11_) ? "Connection: keep-alive\r\n"
                                            : "Connection: close\r\n";
    return h + "\r\n";
  }

  void reply_error_and_close(const ApiError& e) {
    keep_alive_ = false;
    write_reply(error_reply(e));
  }

  void write_reply(HttpReply r) {
    t_.router.record(in_request_ ? head_.path : std::string(), r.status);
    out_ = head_text(r.status, r.content_type, r.headers, r.body.size());
    if (head_.method != "HEAD") out_ += r.body;
    stream_.expires_after(t_.limits.write_timeout);
    asio::async_write(stream_, asio::buffer(out_),
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        if (ec) return self->close_now();
                        self->response_done();
                      });
  }

  void response_done() {
    out_.clear();
    out_.shrink_to_fit();
    gen_.reset();
    text_.clear();
    text_.shrink_to_fit();
    logprobs_.clear();
    logprobs_.shrink_to_fit();
    tools_.reset();
    tool_parser_.reset();
    held_logprobs_.clear();
    if (!keep_alive_ || t_.stopping) return linger_close();
    first_request_ = false;
    read_head();
  }

  // ---- generations ---------------------------------------------------------------------------
  enum class Mode { Stream, Whole, WholeProbing };

  void start_generation(GenerationReply g) {
    gen_ = std::move(g.gen);
    meta_ = std::move(g.meta);
    include_usage_ = g.include_usage;
    tools_ = std::move(g.tools);
    tool_index_ = 0;
    if (tools_ && g.stream) {
      tool_parser_.emplace(tools_->format, tools_->options);
      tool_parser_->push(tools_->prefix);  // the start of a call: nothing leaves yet
    }
    mode_ = g.stream ? Mode::Stream : Mode::Whole;
    first_chunk_ = true;
    finished_ = false;
    std::weak_ptr<Session> weak = weak_from_this();
    gen_->set_listener([weak] {
      if (auto self = weak.lock()) self->notify();
    });
    if (mode_ == Mode::Whole) {
      tick(kPeerCheckInterval);
      return pump();
    }
    t_.router.record(head_.path, 200);
    out_ = head_text(200, "text/event-stream", {{"Cache-Control", "no-cache"}}, std::nullopt);
    write_out(/*then_pump=*/true);
    tick(kStreamKeepAlive);
  }

  // From the scheduler's thread: at most one pump is queued at a time.
  void notify() {
    if (notify_queued_.exchange(true)) return;
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      self->notify_queued_ = false;
      self->pump();
    });
  }

  void tick(std::chrono::milliseconds every) {
    timer_.expires_after(every);
    timer_.async_wait([self = shared_from_this(), every](beast::error_code ec) {
      if (ec || self->closed_ || !self->gen_ || self->finished_) return;
      self->on_tick();
      self->tick(every);
    });
  }

  void on_tick() {
    if (mode_ == Mode::Whole) {
      const PeerState s = peer_state(stream_.socket().native_handle());
      if (s == PeerState::Gone) return client_left();
      if (s == PeerState::HalfClosed) {
        // Shut its sending side, or gone altogether: TCP cannot tell until we write. The answer
        // starts now (JSON allows leading white space); a client that left resets the
        // connection and a later write fails.
        mode_ = Mode::WholeProbing;
        out_ = head_text(200, "application/json", {}, std::nullopt);
        if (!writing_) write_out(false);
      }
      return;
    }
    if (writing_) return;
    if (mode_ == Mode::WholeProbing) {
      out_ = http11_ ? chunk(" ") : " ";
      return write_out(false);
    }
    if (Clock::now() - last_write_ >= kStreamKeepAlive) {
      out_ = framed(": keep-alive\n\n");
      write_out(false);
    }
  }

  std::string framed(std::string_view data) const {
    return http11_ ? chunk(data) : std::string(data);
  }

  void client_left() {
    if (gen_) gen_->cancel();
    if (mode_ != Mode::Stream && !finished_) {
      t_.router.record(head_.path, 499);  // as nginx logs it; nobody reads it
      spdlog::debug("[server] {} {}: the client closed the connection; generation cancelled",
                    head_.method, head_.path);
    }
    close_now();
  }

  void write_out(bool then_pump) {
    writing_ = true;
    stream_.expires_after(t_.limits.write_timeout);
    asio::async_write(stream_, asio::buffer(out_),
                      [self = shared_from_this(), then_pump](beast::error_code ec, size_t) {
                        self->writing_ = false;
                        if (ec) return self->client_left();
                        self->last_write_ = Clock::now();
                        if (self->finished_) return self->response_done();
                        if (then_pump || self->mode_ != Mode::Whole) self->pump();
                      });
  }

  void pump() {
    if (closed_ || !gen_ || writing_ || finished_) return;
    Generation::Update u = gen_->wait(std::chrono::milliseconds(0));
    if (mode_ == Mode::Stream) return pump_stream(u);
    for (Piece& p : u.pieces) {
      text_ += p.text;
      for (auto& t : p.logprobs) logprobs_.push_back(std::move(t));
    }
    if (!u.finished) return;
    finished_ = true;
    timer_.cancel();
    std::string body;
    int status = 200;
    if (u.reason == FinishReason::Error) {
      ApiError e(u.error_status, u.error,
                 u.error_status == 503 ? "server_shutting_down" : "generation_failed");
      body = dump_json(e.to_json());
      status = e.status();
    } else if (tools_) {
      // Read as a whole by the same parser a stream uses, the forced prefix first.
      auto parsed = parse_tool_calls(tools_->format, tools_->options, tools_->prefix + text_);
      body = dump_json(final_response(meta_, parsed.content, logprobs_,
                                      finish_name(u.reason, !parsed.calls.empty()),
                                      gen_->prompt_tokens(), u.completion_tokens, parsed.calls));
    } else {
      body = dump_json(final_response(meta_, text_, logprobs_, finish_reason_name(u.reason),
                                      gen_->prompt_tokens(), u.completion_tokens));
    }
    if (mode_ == Mode::Whole) {
      finished_ = false;  // write_reply ends the response itself
      gen_.reset();
      return write_reply(HttpReply{status, "application/json", std::move(body), {}});
    }
    // Headers went out already (probing a half-closed client): the body ends the chunks.
    t_.router.record(head_.path, status);
    out_ = http11_ ? chunk(body) + "0\r\n\r\n" : body;
    if (!http11_) keep_alive_ = false;
    write_out(false);
  }

  void pump_stream(const Generation::Update& u) {
    const bool chat = meta_.endpoint == Endpoint::ChatCompletions;
    std::string events;
    if (first_chunk_ && chat) {
      // The role goes first, as OpenAI streams it, so clients see the reply start at once.
      events += sse_event(stream_chunk(meta_, Piece{}, true, "", include_usage_));
      first_chunk_ = false;
    }
    // One event per piece: a token, or the tokens of a split character or held-back text.
    for (const Piece& p : u.pieces) {
      if (tool_parser_) {  // text that may become a call waits in the parser
        for (const auto& t : p.logprobs) held_logprobs_.push_back(t);
        events += tool_parser_events(meta_, tool_parser_->push(p.text), held_logprobs_,
                                     tool_index_, include_usage_);
        continue;
      }
      events += sse_event(stream_chunk(meta_, p, first_chunk_, "", include_usage_));
      first_chunk_ = false;
    }
    if (u.finished) {
      finished_ = true;
      timer_.cancel();
      if (u.reason == FinishReason::Error) {
        ApiError e(u.error_status, u.error,
                   u.error_status == 503 ? "server_shutting_down" : "generation_failed");
        events += sse_event(e.to_json());
      } else {
        if (tool_parser_) {
          events += tool_parser_events(meta_, tool_parser_->finish(), held_logprobs_,
                                       tool_index_, include_usage_);
        }
        events += sse_event(stream_chunk(
            meta_, Piece{}, first_chunk_,
            finish_name(u.reason, tool_parser_ && tool_parser_->called()), include_usage_));
        if (include_usage_) {
          events += sse_event(usage_chunk(meta_, gen_->prompt_tokens(), u.completion_tokens));
        }
        events += kSseDone;
      }
      out_ = framed(events);
      if (http11_) out_ += "0\r\n\r\n";
      else keep_alive_ = false;
      return write_out(false);
    }
    if (events.empty()) return;
    out_ = framed(events);
    write_out(true);
  }

  // A reply that made calls and ended by itself finishes with "tool_calls", as OpenAI's.
  static std::string_view finish_name(FinishReason r, bool called) {
    return called && r == FinishReason::Stop ? "tool_calls" : finish_reason_name(r);
  }

  // ---- closing -------------------------------------------------------------------------------
  void close_now() {
    if (closed_) return;
    closed_ = true;
    if (gen_) gen_->cancel();
    timer_.cancel();
    deadline_.cancel();
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

  // Half-close, then read and drop what the client still sends (e.g. a body we refused), so the
  // kernel does not answer those bytes with a reset that destroys our response in flight.
  void linger_close() {
    if (closed_) return;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return close_now();
    stream_.expires_after(kLingerTime);
    drain();
  }

  void drain() {
    drain_buf_.resize(16u << 10);
    stream_.async_read_some(asio::buffer(drain_buf_),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              self->drained_ += n;
                              if (ec || self->drained_ > kLingerBytes) return self->close_now();
                              self->drain();
                            });
  }

  Transport::Impl& t_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  asio::steady_timer timer_;
  asio::steady_timer deadline_;
  uint64_t deadline_id_ = 0;
  bool deadline_hit_ = false;
  std::optional<HeadParser> head_parser_;
  std::optional<BodyParser> body_parser_;
  RequestHead head_;
  bool first_request_ = true;
  bool in_request_ = false;
  bool keep_alive_ = true;
  bool http11_ = true;
  bool closed_ = false;
  uint64_t reserved_ = 0;
  std::string out_;
  std::vector<char> drain_buf_;
  size_t drained_ = 0;
  // generation
  std::shared_ptr<Generation> gen_;
  ResponseMeta meta_;
  Mode mode_ = Mode::Whole;
  bool include_usage_ = false;
  bool first_chunk_ = true;
  bool finished_ = false;
  bool writing_ = false;
  std::string text_;
  std::vector<TokenLogprobs> logprobs_;
  std::optional<ToolReply> tools_;
  std::optional<ToolCallParser> tool_parser_;   // streams only
  std::vector<TokenLogprobs> held_logprobs_;    // of text the parser holds
  uint32_t tool_index_ = 0;
  Clock::time_point last_write_ = Clock::now();
  std::atomic<bool> notify_queued_{false};
};

void Transport::Impl::accept() {
  acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
      // Out of descriptors and the like: wait a little instead of spinning on the error.
      spdlog::warn("[server] accept failed: {}", ec.message());
      auto t = std::make_shared<asio::steady_timer>(ioc, std::chrono::milliseconds(100));
      t->async_wait([this, t](beast::error_code) {
        if (!stopping) accept();
      });
      return;
    }
    if (stopping) return;
    if (live.load() >= limits.max_connections) {
      refuse(std::move(socket));
    } else {
      auto s = std::make_shared<Session>(*this, std::move(socket));
      {
        std::lock_guard lock(sessions_mutex);
        sessions.emplace(s.get(), s);
      }
      s->start();
    }
    accept();
  });
}

// Over the connection limit: one short answer written without waiting, then the socket closes.
void Transport::Impl::refuse(tcp::socket socket) {
  const std::string body = dump_json(
      ApiError(503,
               fmt::format("the server holds its maximum of {} connections; retry shortly",
                           limits.max_connections),
               "too_many_connections")
          .to_json());
  const std::string text = fmt::format(
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: "
      "{}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n{}",
      body.size(), body);
  beast::error_code ec;
  socket.non_blocking(true, ec);
  socket.write_some(asio::buffer(text), ec);
  socket.shutdown(tcp::socket::shutdown_send, ec);
  socket.close(ec);
  router.record(std::string(), 503);
}

Transport::Transport(Router& router, TransportLimits limits, unsigned io_threads,
                     unsigned prep_threads)
    : impl_(std::make_unique<Impl>(router, limits, io_threads, prep_threads)) {}

Transport::~Transport() {
  stop();
  impl_->prep.join();
}

int Transport::bind(const std::string& host, int port) {
  auto& a = impl_->acceptor;
  beast::error_code ec;
  const std::string where = host + ":" + std::to_string(port);
  tcp::resolver resolver(impl_->ioc);
  auto results = resolver.resolve(host, std::to_string(port),
                                  tcp::resolver::numeric_service | tcp::resolver::passive, ec);
  if (ec || results.empty()) {
    throw IoError("server", "cannot resolve the address to bind (" + where + ": " +
                                (ec ? ec.message() : "no address") + ")");
  }
  const tcp::endpoint ep = results.begin()->endpoint();
  a.open(ep.protocol(), ec);
  // SO_REUSEADDR (not SO_REUSEPORT): a restart binds past TIME_WAIT, but a second server on a
  // port that is listening fails instead of sharing the traffic.
  if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    beast::error_code ignored;
    a.close(ignored);
    throw IoError("server", "cannot listen on " + where + " (" + ec.message() +
                                (ec == asio::error::address_in_use
                                     ? ": another process serves this port; choose --port"
                                     : "") +
                                ")");
  }
  return a.local_endpoint().port();
}

void Transport::run() {
  if (impl_->stopping || !impl_->acceptor.is_open()) return;
  impl_->accept();
  std::vector<std::thread> extra;
  for (unsigned i = 1; i < impl_->io_threads; ++i) {
    extra.emplace_back([this] { impl_->ioc.run(); });
  }
  impl_->ioc.run();
  for (auto& t : extra) t.join();
}

void Transport::stop() {
  if (impl_->stopping.exchange(true)) return;
  asio::post(impl_->ioc, [impl = impl_.get()] {
    beast::error_code ec;
    impl->acceptor.close(ec);
    std::vector<std::shared_ptr<Session>> live;
    {
      std::lock_guard lock(impl->sessions_mutex);
      for (auto& [p, w] : impl->sessions) {
        if (auto s = w.lock()) live.push_back(std::move(s));
      }
    }
    for (auto& s : live) s->stop_soon();
    // Responses that are still being written get a few seconds; then everything ends.
    impl->grace_end = Clock::now() + std::chrono::seconds(5);
    impl->wait_for_sessions();
  });
}

uint32_t Transport::connections() const { return impl_->live.load(); }

}  // namespace mlxcel::server
