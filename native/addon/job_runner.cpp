#include "job_runner.h"

#include <cstdlib>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "addon_data.h"
#include "cancel_token.h"
#include "js_errors.h"

namespace spo::addon {

struct JobRecord {
  std::unique_ptr<Job> job;
  std::shared_ptr<std::atomic<bool>> cancel;
  std::shared_ptr<EnvJobs> env;
  // Main thread only:
  std::unique_ptr<Napi::Promise::Deferred> deferred;
  Napi::FunctionReference on_progress;
  Napi::Reference<Napi::Value> callback_error;  // a throw from on_progress aborts the job
  // Written by the worker before the completion message, read after it:
  std::unique_ptr<CapturedError> error;
};

struct Message {
  enum Kind { Progress, Done } kind;
  std::shared_ptr<JobRecord> rec;
  ProgressEvent progress;
};

namespace {

// A fixed pool of threads shared by every environment of the process. It is
// deliberately never destroyed: worker threads may outlive any one
// environment, and process exit must not wait on them.
class ThreadPool {
 public:
  explicit ThreadPool(int n) {
    for (int i = 0; i < n; ++i) threads_.emplace_back([this] { Loop(); });
  }
  void Enqueue(std::function<void()> task) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(std::move(task));
    }
    ready_.notify_one();
  }
  int size() const { return static_cast<int>(threads_.size()); }

 private:
  void Loop() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        ready_.wait(lock, [this] { return !queue_.empty(); });
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
    }
  }
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> queue_;
  std::vector<std::thread> threads_;
};

ThreadPool& Pool() {
  static ThreadPool* pool = new ThreadPool(JobThreadCount());
  return *pool;
}

void RunOnWorker(const std::shared_ptr<JobRecord>& rec) {
  const std::weak_ptr<JobRecord> weak = rec;
  JobContext ctx(rec->cancel, [weak](const ProgressEvent& ev) {
    if (auto r = weak.lock()) r->env->Post(new Message{Message::Progress, r, ev});
  });
  try {
    ctx.check_cancelled();
    rec->job->Execute(ctx);
  } catch (...) {
    rec->error = std::make_unique<CapturedError>(CaptureCurrentException());
  }
  rec->env->WorkerFinished(rec);
}

}  // namespace

// One by default. Each thread that runs ATen work owns an OpenMP team of
// intra-op threads; once the teams together hold more threads than the
// machine has cores, libgomp stops spinning between parallel regions and
// wakes its threads through futexes at every one. Two job threads on 2 cores
// made the shapes-world UNet forward 1.7x slower than one (docs/benchmarks.md,
// "Jobs and OpenMP"). Jobs already use every core, so a second thread mostly
// lets two jobs fight over them.
int JobThreadCount() {
  static const int n = [] {
    const char* env = std::getenv("SPO_JOB_THREADS");
    const int v = env ? std::atoi(env) : 1;
    return v >= 1 && v <= 64 ? v : 1;
  }();
  return n;
}

std::shared_ptr<EnvJobs> EnvJobs::Create(Napi::Env env) {
  auto self = std::shared_ptr<EnvJobs>(new EnvJobs());
  self->tsfn_ = decltype(self->tsfn_)::New(env, "spo-diffusion jobs", 0, 1, nullptr);
  self->tsfn_.Unref(env);  // an idle runner must not keep the process alive
  // Registered after the thread-safe function, so it runs before that is torn down.
  env.AddCleanupHook([self] { self->Cleanup(); });
  return self;
}

Napi::Promise EnvJobs::Submit(Napi::Env env, std::unique_ptr<Job> job, std::shared_ptr<std::atomic<bool>> cancel_flag,
                              Napi::Value on_progress) {
  auto rec = std::make_shared<JobRecord>();
  rec->job = std::move(job);
  rec->cancel = cancel_flag ? std::move(cancel_flag) : std::make_shared<std::atomic<bool>>(false);
  rec->env = shared_from_this();
  rec->deferred = std::make_unique<Napi::Promise::Deferred>(env);
  if (on_progress.IsFunction()) rec->on_progress = Napi::Persistent(on_progress.As<Napi::Function>());
  auto promise = rec->deferred->Promise();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closing_) throw Napi::Error::New(env, "the environment is shutting down");
    running_.insert(rec);
  }
  if (unsettled_.empty()) tsfn_.Ref(env);
  unsettled_.insert(rec);
  Pool().Enqueue([rec] { RunOnWorker(rec); });
  return promise;
}

bool EnvJobs::Post(Message* msg) {
  std::lock_guard<std::mutex> lock(mutex_);
  return PostLocked(msg);
}

bool EnvJobs::PostLocked(Message* msg) {
  if (closing_ || tsfn_.BlockingCall(msg) != napi_ok) {
    delete msg;
    return false;
  }
  return true;
}

void EnvJobs::WorkerFinished(const std::shared_ptr<JobRecord>& rec) {
  // Leave the running set before the completion is posted, under one lock:
  // once a job's Promise settles, RunningCount() no longer counts it.
  std::lock_guard<std::mutex> lock(mutex_);
  running_.erase(rec);
  PostLocked(new Message{Message::Done, rec, {}});
  if (running_.empty()) idle_.notify_all();
}

size_t EnvJobs::RunningCount() {
  std::lock_guard<std::mutex> lock(mutex_);
  return running_.size();
}

// While an environment terminates (Worker.terminate()), Node-API calls that
// may run JavaScript fail, and node-addon-api turns some of those failures
// into a fatal error (it cannot even build its Error object). Probe with a
// raw call of that kind first and drop the message if it fails.
static bool CanCallIntoJs(napi_env env) {
  napi_value probe, undefined;
  return napi_create_object(env, &probe) == napi_ok && napi_get_undefined(env, &undefined) == napi_ok &&
         napi_set_named_property(env, probe, "probe", undefined) == napi_ok;
}

// Progress goes through raw Node-API calls whose failures are only statuses:
// progress is frequent, and if the environment starts terminating in the
// middle of a delivery, node-addon-api's wrappers would raise a fatal error.
static bool SetMetrics(napi_env env, napi_value ev, const ProgressEvent& p) {
  if (p.metrics.empty()) return true;
  napi_value metrics, v;
  if (napi_create_object(env, &metrics) != napi_ok) return false;
  for (const auto& [name, number] : p.metrics) {
    if (napi_create_double(env, number, &v) != napi_ok || napi_set_named_property(env, metrics, name.c_str(), v) != napi_ok)
      return false;
  }
  return napi_set_named_property(env, ev, "metrics", metrics) == napi_ok;
}

static void DeliverProgress(napi_env env, JobRecord& rec, const ProgressEvent& p) {
  napi_value ev, stage, step, total, value, fn, global, ignored;
  if (napi_create_object(env, &ev) != napi_ok ||
      napi_create_string_utf8(env, p.stage.c_str(), p.stage.size(), &stage) != napi_ok ||
      napi_create_double(env, static_cast<double>(p.step), &step) != napi_ok ||
      napi_create_double(env, static_cast<double>(p.total), &total) != napi_ok ||
      napi_create_double(env, p.value, &value) != napi_ok || napi_set_named_property(env, ev, "stage", stage) != napi_ok ||
      napi_set_named_property(env, ev, "step", step) != napi_ok ||
      napi_set_named_property(env, ev, "total", total) != napi_ok ||
      napi_set_named_property(env, ev, "value", value) != napi_ok || !SetMetrics(env, ev, p) ||
      napi_get_reference_value(env, rec.on_progress, &fn) != napi_ok || napi_get_global(env, &global) != napi_ok) {
    return;
  }
  if (napi_call_function(env, global, fn, 1, &ev, &ignored) == napi_ok) return;
  // The callback threw: that error rejects the job, which stops at its next step.
  bool pending = false;
  napi_value error;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
      napi_get_and_clear_last_exception(env, &error) == napi_ok) {
    napi_valuetype type;
    if (napi_typeof(env, error, &type) == napi_ok && type != napi_undefined) {
      rec.callback_error = Napi::Reference<Napi::Value>(env, nullptr);
      napi_ref ref;
      if (napi_create_reference(env, error, 1, &ref) == napi_ok) rec.callback_error = Napi::Reference<Napi::Value>(env, ref);
      rec.cancel->store(true);
    }
  }
}

void EnvJobs::OnMessage(Napi::Env env, Napi::Function, std::nullptr_t*, Message* msg) {
  std::unique_ptr<Message> owned(msg);
  if (env == nullptr || !msg) return;  // the function is being torn down
  if (!CanCallIntoJs(env)) return;     // a terminating Worker: see CanCallIntoJs
  // Nothing may escape a thread-safe-function callback (it would terminate
  // the process): while an environment terminates (a Worker's terminate(),
  // process.exit) every Node-API call here can fail and node-addon-api
  // reports that by throwing. The job's Promise then simply goes with its
  // environment.
  try {
    msg->rec->env->Deliver(env, msg);
  } catch (...) {
  }
}

void EnvJobs::Deliver(Napi::Env env, Message* msg) {
  JobRecord& rec = *msg->rec;
  if (!rec.deferred) return;  // already settled
  Napi::HandleScope scope(env);
  if (msg->kind == Message::Progress) {
    if (rec.on_progress.IsEmpty() || !rec.callback_error.IsEmpty()) return;
    DeliverProgress(env, rec, msg->progress);
    return;
  }
  auto deferred = std::move(rec.deferred);
  const auto keep = msg->rec;
  unsettled_.erase(keep);
  if (unsettled_.empty()) tsfn_.Unref(env);
  if (!rec.callback_error.IsEmpty()) {
    deferred->Reject(rec.callback_error.Value());
  } else if (rec.error) {
    deferred->Reject(rec.error->ToJs(env));
  } else {
    try {
      deferred->Resolve(rec.job->Result(env));
    } catch (const Napi::Error& e) {
      deferred->Reject(e.Value());
    } catch (...) {
      deferred->Reject(CaptureCurrentException().ToJs(env));
    }
  }
  rec.on_progress.Reset();
  rec.callback_error.Reset();
  rec.job.reset();  // free the job's tensors now, not when the record goes
}

void EnvJobs::Cleanup() {
  std::unique_lock<std::mutex> lock(mutex_);
  closing_ = true;
  for (const auto& rec : running_) rec->cancel->store(true);
  // Jobs stop at their next step boundary; none may outlive the environment's data.
  idle_.wait(lock, [this] { return running_.empty(); });
  lock.unlock();
  for (const auto& rec : unsettled_) {
    try {  // Node-API calls may fail while the environment goes away; never let that escape
      rec->on_progress.Reset();
      rec->callback_error.Reset();
    } catch (...) {
    }
    rec->deferred.reset();
  }
  unsettled_.clear();
}

Napi::Promise SubmitLambdaJob(const Napi::CallbackInfo& info, size_t token_arg,
                              std::function<void(const JobContext&)> execute,
                              std::function<Napi::Value(Napi::Env)> result) {
  Napi::Env env = info.Env();
  auto flag = CancelToken::FlagOf(env, info[token_arg]);
  return AddonData::Of(env).jobs->Submit(env, std::make_unique<LambdaJob>(std::move(execute), std::move(result)),
                                         std::move(flag), info[token_arg + 1]);
}

}  // namespace spo::addon
