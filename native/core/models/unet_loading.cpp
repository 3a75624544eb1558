#include "models/unet_loading.h"

#include "io/json_file.h"
#include "io/module_weights.h"
#include "runtime/errors.h"

namespace spo::models {

UNetConfig read_unet_config(const std::string& dir) {
  const std::string path = dir + "/config.json";
  const io::Json json = io::read_json(path);
  try {
    return unet_config_from_json(json);
  } catch (const InvalidArgument& e) {  // name the file the bad field came from, keeping the error's type
    throw InvalidArgument(path + ": " + e.what());
  } catch (const Unsupported& e) {
    throw Unsupported(path + ": " + e.what());
  }
}

UNet2DConditionModel load_unet(const std::string& dir, const at::TensorOptions& options) {
  UNet2DConditionModel model(read_unet_config(dir), options);
  io::load_module_weights(*model, io::open_component_weights(dir));
  return model;
}

}  // namespace spo::models
