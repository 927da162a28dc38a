// Strict reading of JSON request bodies. ParseJsonObject turns text into an object or a
// "malformed" Status; JsonFields reads typed fields from an object and collects one Okta-style
// cause ("<field>: <message>") per problem, so a caller reports all of them at once.
// Unknown fields are ignored. Not thread-safe; one per request.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "shared/errors/status.h"

namespace keyhole {

// detail() is "malformed_body" when the text is not JSON, "not_object" when it is not an object.
StatusOr<nlohmann::json> ParseJsonObject(std::string_view text);

class JsonFields {
 public:
  // `prefix` names the enclosing object in causes, e.g. "profile." gives "profile.login: …".
  explicit JsonFields(const nlohmann::json& object, std::string prefix = "")
      : object_(object), prefix_(std::move(prefix)) {}

  struct StringRule {
    bool required = false;
    size_t min_length = 0;
    size_t max_length = 1024;
  };

  // Absent or null → nullopt (a cause if required). Wrong type or length → nullopt and a cause.
  std::optional<std::string> String(std::string_view key, StringRule rule);
  std::optional<bool> Bool(std::string_view key, bool required = false);
  // An object member (or nullopt). Wrong type → cause.
  const nlohmann::json* Object(std::string_view key, bool required = false);

  bool Has(std::string_view key) const;
  void AddCause(std::string_view key, std::string_view message);

  bool ok() const { return causes_.empty(); }
  // InvalidArgument "Api validation failed: <first field>" with every cause; Ok when none.
  Status ToStatus() const;

 private:
  const nlohmann::json* Find(std::string_view key) const;

  const nlohmann::json& object_;
  std::string prefix_;
  std::vector<std::string> causes_;
  std::string first_field_;
};

}  // namespace keyhole
