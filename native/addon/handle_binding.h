// The one pattern of every JavaScript handle class (DDIMScheduler, Tokenizer,
// UNet, VAE, TextEncoder, Pipeline, Evaluator): an object tagged with its
// class, holding a shared native object until dispose(). Each entry point goes
// through Safe (tag check on `this`, the object pinned for the call, C++
// exceptions turned into JavaScript errors); after dispose() Get throws
// ERR_SPO_DISPOSED; running jobs keep their own reference. A binding names its
// class (kClassName), lists its own members and converts its own arguments.
#pragma once
#include <ATen/core/grad_mode.h>
#include <napi.h>

#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "addon_data.h"
#include "job_runner.h"
#include "js_args.h"
#include "js_errors.h"
#include "model_support.h"
#include "tensor_bridge.h"
#include "type_tags.h"

namespace spo::addon {

// A job whose `run(ctx)` returns its result, made on the job's thread;
// `to_js(env, result)` converts it on the JavaScript thread. Token at argument `token_arg`.
template <typename Run, typename ToJs>
Napi::Value SubmitResultJob(const Napi::CallbackInfo& info, size_t token_arg, Run run, ToJs to_js) {
  auto out = std::make_shared<std::decay_t<decltype(run(std::declval<const JobContext&>()))>>();
  return SubmitLambdaJob(
      info, token_arg, [run, out](const JobContext& ctx) { *out = run(ctx); },
      [out, to_js](Napi::Env e) -> Napi::Value { return to_js(e, *out); });
}

template <typename Derived, typename Held>
class HandleBinding : public Napi::ObjectWrap<Derived> {
 public:
  using HeldPtr = std::shared_ptr<Held>;
  using Member = Napi::ClassPropertyDescriptor<Derived>;

  // The class with `members` and dispose(); its constructor is kept for NewInstance.
  static Napi::Function DefineHandle(Napi::Env env, std::vector<Member> members) {
    members.push_back(Method<&HandleBinding::Dispose>("dispose"));
    auto ctor = Napi::ObjectWrap<Derived>::DefineClass(env, Derived::kClassName, members);
    AddonData::Of(env).handle_ctors[TypeTagOf<Derived>()] = Napi::Persistent(ctor);
    return ctor;
  }

  // exports[kClassName]: the class; exports[load_name]: Derived::Load, the function that makes one.
  static void Export(Napi::Env env, Napi::Object exports, const char* load_name) {
    exports.Set(Derived::kClassName, Derived::Define(env));
    exports.Set(load_name, Napi::Function::New<Derived::Load>(env, load_name));
  }

  // A new JavaScript instance around `held` (made by a load job, on the JavaScript thread).
  static Napi::Value NewInstance(Napi::Env env, HeldPtr held) {
    return NewHandle(env, AddonData::Of(env).handle_ctors.at(TypeTagOf<Derived>()), std::move(held));
  }

  // load(dir, ..., token?, onProgress?): `read_options(env)` on the JavaScript
  // thread, then `load(dir, options)` -> HeldPtr as a job whose token is
  // argument `token_arg`; resolves to the new handle.
  template <typename ReadOptions, typename Load>
  static Napi::Value LoadFromFolder(const Napi::CallbackInfo& info, size_t token_arg, ReadOptions read_options, Load load) {
    Napi::Env env = info.Env();
    return Guard(env, [&]() -> Napi::Value {
      const std::string dir = RequireString(env, info[0], "dir");
      auto options = read_options(env);
      auto loaded = std::make_shared<HeldPtr>();
      return SubmitLambdaJob(
          info, token_arg, [dir, options, load, loaded](const JobContext&) { *loaded = load(dir, options); },
          [loaded](Napi::Env e) { return NewInstance(e, *loaded); });
    });
  }
  // The same without options: `load(dir)`.
  template <typename Load>
  static Napi::Value LoadFromFolder(const Napi::CallbackInfo& info, size_t token_arg, Load load) {
    return LoadFromFolder(
        info, token_arg, [](Napi::Env) { return 0; }, [load](const std::string& dir, int) { return load(dir); });
  }

 protected:
  using Entry = Napi::Value (Derived::*)(const Napi::CallbackInfo&);

  // Constructed by NewInstance only: the held object comes in an External.
  explicit HandleBinding(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Derived>(info) {
    TagInstance<Derived>(info);
    held_ = HandleFromExternal<Held>(info, Derived::kClassName);
  }
  // Constructed from JavaScript (`new DDIMScheduler(config)`): the binding sets held_ itself.
  struct MadeInJs {};
  HandleBinding(const Napi::CallbackInfo& info, MadeInJs) : Napi::ObjectWrap<Derived>(info) { TagInstance<Derived>(info); }

  template <auto M>
  static Member Method(const char* name) {
    return Napi::ObjectWrap<Derived>::InstanceMethod(name, &HandleBinding::Safe<M>);
  }
  template <auto M>
  static Member Getter(const char* name) {
    return Napi::ObjectWrap<Derived>::InstanceAccessor(name, &HandleBinding::Safe<M>, nullptr);
  }

  // The held object; ERR_SPO_DISPOSED after dispose().
  HeldPtr Get(Napi::Env env) const {
    if (!held_) ThrowJs(env, "ERR_SPO_DISPOSED", std::string("this ") + Derived::kClassName + " was disposed");
    return held_;
  }

  // The instance behind an argument of this class; `error` (ERR_SPO_INVALID_ARGUMENT) for anything else.
  static Derived& FromArgument(Napi::Env env, Napi::Value v, const std::string& error) {
    if (!HasTag<Derived>(v)) ThrowInvalid(env, error);
    return *Derived::Unwrap(v.As<Napi::Object>());
  }

  HeldPtr held_;

 private:
  template <auto M>
  Napi::Value Safe(const Napi::CallbackInfo& info) {
    RequireThis<Derived>(info, Derived::kClassName);
    // Pinned for the whole call: a JavaScript callback reached from inside it
    // (a getter, a setter) may call dispose().
    const auto keep = held_;
    return Guard(info.Env(), [&] { return (static_cast<Derived*>(this)->*M)(info); });
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    held_.reset();  // running jobs keep their own reference
    return info.Env().Undefined();
  }
};

// The model handles (UNet, VAE, TextEncoder): a LoadedModel read from one
// component folder with { device, dtype }, and its `config` and `options`.
template <typename Derived, typename Model>
class ModelHandleBinding : public HandleBinding<Derived, LoadedModel<Model>> {
  using Base = HandleBinding<Derived, LoadedModel<Model>>;

 public:
  using Loaded = LoadedModel<Model>;

  // The class with its own `members` (its forward calls and `config`), then `options`.
  static Napi::Function DefineModel(Napi::Env env, std::vector<typename Base::Member> members) {
    members.push_back(Base::template Getter<&ModelHandleBinding::Options>("options"));
    return Base::DefineHandle(env, std::move(members));
  }

  // loadX(dir, options?, token?, onProgress?) -> Promise<handle>, the model built by `build(dir, options)`.
  template <typename Build>
  static Napi::Value LoadModel(const Napi::CallbackInfo& info, Build build) {
    return Base::LoadFromFolder(
        info, 2, [&info](Napi::Env env) { return ModelOptionsFromJs(env, info[1]); },
        [build](const std::string& dir, const at::TensorOptions& options) {
          return std::make_shared<Loaded>(Loaded{build(dir, options), options});
        });
  }

 protected:
  using Base::Base;

  // A call on the model as a job (token at argument 1): Get() first
  // (ERR_SPO_DISPOSED), then `read(env)` converts the arguments; `run(loaded,
  // input)` on the job's thread, without gradients, unless cancelled first;
  // `to_js(env, result)` on the JavaScript thread.
  template <typename Read, typename Run, typename ToJs>
  Napi::Value ModelJob(const Napi::CallbackInfo& info, Read read, Run run, ToJs to_js) {
    Napi::Env env = info.Env();
    auto loaded = this->Get(env);
    auto input = std::make_shared<std::decay_t<decltype(read(env))>>(read(env));
    auto out = std::make_shared<std::decay_t<decltype(run(*loaded, *input))>>();
    return SubmitLambdaJob(
        info, 1,
        [loaded, input, run, out](const JobContext& ctx) {
          ctx.check_cancelled();
          at::NoGradGuard no_grad;
          *out = run(*loaded, *input);
        },
        [out, to_js](Napi::Env e) -> Napi::Value { return to_js(e, *out); });
  }
  static Napi::Value TensorResult(Napi::Env env, const at::Tensor& t) { return TensorToJs(env, t); }

 private:
  Napi::Value Options(const Napi::CallbackInfo& info) { return ModelOptionsToJs(info.Env(), this->Get(info.Env())->options); }
};

}  // namespace spo::addon
