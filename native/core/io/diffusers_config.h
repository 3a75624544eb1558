// The fields of a diffusers config.json that reach the class constructor, read
// as diffusers' ConfigMixin.extract_init_dict reads them: keys starting with
// `_` are bookkeeping (_class_name, _diffusers_version, _name_or_path,
// _use_default_values, ...) and are ignored, and a key named in
// `_use_default_values` is treated as absent, so the constructor default
// applies (diffusers wrote that value only because it was the default then).
#pragma once
#include "io/json_file.h"

namespace spo::io {

// A copy of `config` without those keys. A non-object is returned unchanged
// (the caller's own type check reports it); a `_use_default_values` that is
// not a list names no key.
Json diffusers_init_fields(const Json& config);

}  // namespace spo::io
