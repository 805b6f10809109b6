// Any bytes as what fetchd might send fetchctl (a reply's result, a watch event, an error): every
// renderer prints it without throwing, whatever the fields' types or values, so that a newer or a
// broken daemon never crashes fetchctl.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "ctl/render.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace fetchd::ctl;
  const auto value =
      nlohmann::json::parse(std::string_view(reinterpret_cast<const char*>(data), size), nullptr,
                            /*allow_exceptions=*/false);
  if (value.is_discarded())
    return 0;
  for (const bool colour : {false, true}) {
    const RenderContext context{
        .now = std::chrono::system_clock::time_point(std::chrono::seconds(1'764'000'000)),
        .colour = colour};
    Request plain{};
    Request waited{.waits_for_fetch = true};
    Request filtered{.args = nlohmann::json::object({{"state", "up"}})};
    render_event(value, context);
    render_error(value);
    for (const Request* request : {&plain, &waited, &filtered}) {
      render_version(value, *request, context);
      render_commands(value, *request, context);
      render_status(value, *request, context);
      render_list(value, *request, context);
      render_show(value, *request, context);
      render_add(value, *request, context);
      render_remove(value, *request, context);
      render_fetch(value, *request, context);
      render_reload(value, *request, context);
      render_silence(value, *request, context);
      render_silences(value, *request, context);
      render_unsilence(value, *request, context);
    }
  }
  return 0;
}
