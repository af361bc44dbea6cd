#pragma once
// JSON conversions for flat types: TF_JSON_FIELDS(Type, a, b, c) defines to_json and from_json so that a Type is
// written as {"a": ..., "b": ..., "c": ...} (keys in that order with nlohmann::ordered_json) and read back from
// the same keys. It is NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE as nlohmann-json 3.11.3 defines it, for nlohmann::json
// and nlohmann::ordered_json alike; 3.11.2 (Debian 12) defines that macro for nlohmann::json only, and our output
// files keep their keys in a fixed order (ordered_json). Use it in the namespace of the type (ADL finds it there).
// Nested or conditional layouts get hand-written to_json/from_json pairs beside each other instead.
#include <nlohmann/json.hpp>

#define TF_JSON_FIELDS(Type, ...)                                                                                  \
  template <class BasicJsonType,                                                                                   \
            nlohmann::detail::enable_if_t<nlohmann::detail::is_basic_json<BasicJsonType>::value, int> = 0>         \
  void to_json(BasicJsonType& nlohmann_json_j, const Type& nlohmann_json_t) {                                      \
    NLOHMANN_JSON_EXPAND(NLOHMANN_JSON_PASTE(NLOHMANN_JSON_TO, __VA_ARGS__))                                       \
  }                                                                                                                \
  template <class BasicJsonType,                                                                                   \
            nlohmann::detail::enable_if_t<nlohmann::detail::is_basic_json<BasicJsonType>::value, int> = 0>         \
  void from_json(const BasicJsonType& nlohmann_json_j, Type& nlohmann_json_t) {                                    \
    NLOHMANN_JSON_EXPAND(NLOHMANN_JSON_PASTE(NLOHMANN_JSON_FROM, __VA_ARGS__))                                     \
  }
