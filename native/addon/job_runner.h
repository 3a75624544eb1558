// The job runner: a process-wide pool of native threads owned by the package
// (not libuv's pool), one Promise per job, progress and completion delivered
// through one thread-safe function per Node environment, cancellation by a
// flag the job checks between steps, and an environment clean-up hook that
// cancels and waits for the environment's jobs before it goes away.
#pragma once
#include <napi.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <set>

#include "runtime/job_context.h"

namespace spo::addon {

// One unit of work. Execute runs on a pool thread and must not touch V8;
// Result runs on the JavaScript thread afterwards and builds the resolved value.
class Job {
 public:
  virtual ~Job() = default;
  virtual void Execute(const JobContext& ctx) = 0;
  virtual Napi::Value Result(Napi::Env env) = 0;
};

struct JobRecord;
struct Message;

// Per-environment state (main thread and worker threads may both touch it).
class EnvJobs : public std::enable_shared_from_this<EnvJobs> {
 public:
  static std::shared_ptr<EnvJobs> Create(Napi::Env env);

  // Queues `job`; returns its Promise. `cancel_flag` is shared with a CancelToken;
  // `on_progress` is a function or undefined.
  Napi::Promise Submit(Napi::Env env, std::unique_ptr<Job> job, std::shared_ptr<std::atomic<bool>> cancel_flag,
                       Napi::Value on_progress);

  // Called from workers: hands a message to the JavaScript thread unless the
  // environment is closing. Returns false when it was dropped.
  bool Post(Message* msg);
  void WorkerFinished(const std::shared_ptr<JobRecord>& rec);

  // Jobs of this environment whose worker has not finished (queued or executing).
  size_t RunningCount();

 private:
  static void OnMessage(Napi::Env env, Napi::Function, std::nullptr_t*, Message* msg);
  bool PostLocked(Message* msg);  // Post with mutex_ held
  void Deliver(Napi::Env env, Message* msg);
  void Cleanup();

  Napi::TypedThreadSafeFunction<std::nullptr_t, Message, &EnvJobs::OnMessage> tsfn_;
  // Main thread only: jobs whose Promise is unsettled. Holding them here keeps
  // every JavaScript reference they own on this thread until it is released.
  std::set<std::shared_ptr<JobRecord>> unsettled_;

  std::mutex mutex_;
  std::condition_variable idle_;
  bool closing_ = false;
  std::set<std::shared_ptr<JobRecord>> running_;  // submitted, worker not yet finished
};

// Threads in the process-wide pool ($SPO_JOB_THREADS, default 2).
int JobThreadCount();

}  // namespace spo::addon

namespace spo::addon {

// A job from two closures that share their state through captures.
class LambdaJob : public Job {
 public:
  LambdaJob(std::function<void(const JobContext&)> execute, std::function<Napi::Value(Napi::Env)> result)
      : execute_(std::move(execute)), result_(std::move(result)) {}
  void Execute(const JobContext& ctx) override { execute_(ctx); }
  Napi::Value Result(Napi::Env env) override { return result_(env); }

 private:
  std::function<void(const JobContext&)> execute_;
  std::function<Napi::Value(Napi::Env)> result_;
};

}  // namespace spo::addon

namespace spo::addon {

// Submits a LambdaJob with the CancelToken at info[token_arg] and the progress
// callback at info[token_arg + 1]: the calling convention of every async method.
Napi::Promise SubmitLambdaJob(const Napi::CallbackInfo& info, size_t token_arg,
                              std::function<void(const JobContext&)> execute,
                              std::function<Napi::Value(Napi::Env)> result);

}  // namespace spo::addon
