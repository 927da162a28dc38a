#include "shared/json/json_fields.h"

namespace keyhole {

StatusOr<nlohmann::json> ParseJsonObject(std::string_view text) {
  nlohmann::json value = nlohmann::json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) {
    return InvalidArgumentError("The request body was not well-formed.").WithDetail("malformed_body");
  }
  if (!value.is_object()) {
    return InvalidArgumentError("The request body must be a JSON object.").WithDetail("not_object");
  }
  return value;
}

const nlohmann::json* JsonFields::Find(std::string_view key) const {
  auto it = object_.find(key);
  if (it == object_.end() || it->is_null()) return nullptr;
  return &*it;
}

bool JsonFields::Has(std::string_view key) const { return object_.contains(key); }

void JsonFields::AddCause(std::string_view key, std::string_view message) {
  std::string field = prefix_ + std::string(key);
  if (first_field_.empty()) first_field_ = field;
  causes_.push_back(field + ": " + std::string(message));
}

std::optional<std::string> JsonFields::String(std::string_view key, StringRule rule) {
  const nlohmann::json* v = Find(key);
  if (v == nullptr) {
    if (rule.required) AddCause(key, "The field cannot be left blank");
    return std::nullopt;
  }
  if (!v->is_string()) {
    AddCause(key, "The field must be a string");
    return std::nullopt;
  }
  const std::string& s = v->get_ref<const std::string&>();
  if (s.empty() && rule.required) {
    AddCause(key, "The field cannot be left blank");
    return std::nullopt;
  }
  if (s.size() < rule.min_length) {
    AddCause(key, "The field is too short (at least " + std::to_string(rule.min_length) + " characters)");
    return std::nullopt;
  }
  if (s.size() > rule.max_length) {
    AddCause(key, "The field is too long (at most " + std::to_string(rule.max_length) + " characters)");
    return std::nullopt;
  }
  return s;
}

std::optional<bool> JsonFields::Bool(std::string_view key, bool required) {
  const nlohmann::json* v = Find(key);
  if (v == nullptr) {
    if (required) AddCause(key, "The field cannot be left blank");
    return std::nullopt;
  }
  if (!v->is_boolean()) {
    AddCause(key, "The field must be a boolean");
    return std::nullopt;
  }
  return v->get<bool>();
}

const nlohmann::json* JsonFields::Object(std::string_view key, bool required) {
  const nlohmann::json* v = Find(key);
  if (v == nullptr) {
    if (required) AddCause(key, "The field cannot be left blank");
    return nullptr;
  }
  if (!v->is_object()) {
    AddCause(key, "The field must be an object");
    return nullptr;
  }
  return v;
}

Status JsonFields::ToStatus() const {
  if (causes_.empty()) return Status::Ok();
  Status s = InvalidArgumentError(first_field_);
  for (const auto& c : causes_) s.AddCause(c);
  return s;
}

}  // namespace keyhole
