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

int JobThreadCount() {
  static const int n = [] {
    const char* env = std::getenv("SPO_JOB_THREADS");
    const int v = env ? std::atoi(env) : 2;
    return v >= 1 && v <= 64 ? v : 2;
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
  if (closing_ || tsfn_.BlockingCall(msg) != napi_ok) {
    delete msg;
    return false;
  }
  return true;
}

void EnvJobs::WorkerFinished(const std::shared_ptr<JobRecord>& rec) {
  Post(new Message{Message::Done, rec, {}});
  std::lock_guard<std::mutex> lock(mutex_);
  running_.erase(rec);
  if (running_.empty()) idle_.notify_all();
}

void EnvJobs::OnMessage(Napi::Env env, Napi::Function, std::nullptr_t*, Message* msg) {
  std::unique_ptr<Message> owned(msg);
  if (env == nullptr || !msg) return;  // the function is being torn down
  msg->rec->env->Deliver(env, msg);
}

void EnvJobs::Deliver(Napi::Env env, Message* msg) {
  JobRecord& rec = *msg->rec;
  if (!rec.deferred) return;  // already settled
  Napi::HandleScope scope(env);
  if (msg->kind == Message::Progress) {
    if (rec.on_progress.IsEmpty() || !rec.callback_error.IsEmpty()) return;
    auto ev = Napi::Object::New(env);
    ev.Set("stage", msg->progress.stage);
    ev.Set("step", static_cast<double>(msg->progress.step));
    ev.Set("total", static_cast<double>(msg->progress.total));
    ev.Set("value", msg->progress.value);
    try {
      rec.on_progress.Call({ev});
    } catch (const Napi::Error& e) {
      rec.callback_error = Napi::Persistent(e.Value().As<Napi::Value>());
      rec.cancel->store(true);
    }
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
    rec->on_progress.Reset();
    rec->callback_error.Reset();
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
