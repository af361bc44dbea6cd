// [model]: a catalogue model by name, changed key by key, or an explicit shape.
#include "sim/scenario/loader.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <cmath>

namespace tf::loader {

ModelSpec read_model(const Section& top) {
  const Section m = top.table("model");
  const auto name = m.string("name");
  const bool any_shape =
      std::any_of(kModelShapeKeys.begin(), kModelShapeKeys.end(), [&](const std::string& k) { return m.has(k); });

  ModelSpec model;
  bool custom = false;
  if (name) {
    if (auto found = find_model(*name)) {
      model = *found;
    } else if (!any_shape) {
      m.fail("name", fmt::format("unknown model '{}'; known models: {} (or give an explicit shape: {})", *name,
                                 catalogue_names(model_catalog()), join(kModelShapeKeys)));
    } else {
      custom = true;
      model.name = *name;
    }
  } else if (any_shape) {
    custom = true;
    model.name = "custom";
  } else {
    model = *find_model("llama-3.1-8b");
  }
  if (custom) {
    for (const std::string k : {"params", "layers", "d_model", "kv_heads", "head_dim", "context_window"})
      if (!m.has(k))
        m.fail(k, fmt::format("missing: {}, so its shape must be given (params, layers, d_model, kv_heads, "
                              "head_dim and context_window); to change a catalogue model, name it, e.g. "
                              "model.name = \"llama-3.1-8b\" (known models: {})",
                              name ? fmt::format("'{}' is not in the catalogue", *name) : "the model has no name",
                              catalogue_names(model_catalog())));
  }

  // Each figure bounded far beyond any model published (1e15 parameters, 100,000 layers or heads, a context of a
  // billion tokens), so that the cost model's products stay finite.
  const bool dense = custom || model.active_params == model.params;
  model.params = m.number_in("params", model.params, Section::Range{0.0, 1e15, false, true});
  model.active_params = m.number_in("active_params", dense ? model.params : model.active_params,
                                    Section::Range{0.0, 1e15, false, true});
  if (model.active_params > model.params)
    m.fail(m.has("active_params") ? "active_params" : "params",
           fmt::format("active_params ({}) cannot exceed params ({})", num(model.active_params), num(model.params)));
  model.layers = static_cast<int>(m.integer_in("layers", model.layers, 1, 100000));
  model.d_model = static_cast<int>(m.integer_in("d_model", model.d_model, 1, 1000000));
  model.head_dim = static_cast<int>(m.integer_in("head_dim", model.head_dim, 1, 100000));
  if (!m.has("heads") && (custom || m.has("d_model") || m.has("head_dim"))) {
    if (model.d_model % model.head_dim != 0)
      m.fail(m.has("head_dim") ? "head_dim" : "d_model",
             fmt::format("d_model ({}) is not a multiple of head_dim ({}); give heads explicitly", model.d_model,
                         model.head_dim));
    model.heads = model.d_model / model.head_dim;
  }
  model.heads = static_cast<int>(m.integer_in("heads", model.heads, 1, 100000));
  model.kv_heads = static_cast<int>(m.integer_in("kv_heads", model.kv_heads, 1, 100000));
  if (model.kv_heads > model.heads || model.heads % model.kv_heads != 0)
    m.fail(m.has("kv_heads") ? "kv_heads" : "heads",
           fmt::format("kv_heads ({}) must divide heads ({})", model.kv_heads, model.heads));
  // At least a prompt token and an answer token.
  model.context_window = m.integer_in("context_window", model.context_window, 2, 1000000000);

  // The operator-level shape: vocabulary, MLP, experts.
  model.vocab = static_cast<int>(m.integer_in("vocab", model.vocab, 1, 10'000'000));
  model.gated_mlp = m.boolean("gated_mlp").value_or(model.gated_mlp);
  const bool moe = model.active_params < model.params;
  model.experts = static_cast<int>(m.integer_in("experts", moe ? model.experts : 0, 0, 100'000));
  model.experts_per_token = static_cast<int>(m.integer_in("experts_per_token", moe ? model.experts_per_token : 0, 0,
                                                          100'000));
  if (moe && model.experts == 0)
    m.fail(m.has("active_params") ? "active_params" : "params",
           fmt::format("active_params ({}) below params ({}) makes a mixture of experts: give experts and "
                       "experts_per_token (e.g. 8 and 2, as Mixtral-8x7B)",
                       num(model.active_params), num(model.params)));
  if (model.experts > 0 && (model.experts_per_token < 1 || model.experts_per_token >= model.experts))
    m.fail(m.has("experts_per_token") ? "experts_per_token" : "experts",
           fmt::format("experts_per_token ({}) must be at least 1 and below experts ({})", model.experts_per_token,
                       model.experts));
  if (!moe && model.experts > 0)
    m.fail("experts", "a mixture of experts needs active_params below params (the parameters one token uses)");
  const bool derive_ffn = !m.has("ffn_dim") && (custom || m.has("params") || m.has("active_params") ||
                                                m.has("d_model") || m.has("layers") || model.ffn_dim <= 0);
  if (derive_ffn) {
    // The MLP (per expert) that makes the shape hold `params` (and, for experts, `active_params`) parameters.
    const double shared = model.layers * (model.attention_params_per_layer() +
                                          (model.moe() ? static_cast<double>(model.d_model) * model.experts : 0.0)) +
                          model.embedding_params();
    const double factor = (model.gated_mlp ? 3.0 : 2.0) * model.d_model * model.layers;
    const double ffn = model.moe() ? (model.params - model.active_params) /
                                         ((model.experts - model.experts_per_token) * factor)
                                   : (model.params - shared) / factor;
    if (!(ffn >= 1.0))
      m.fail("params", fmt::format("{} parameters leave no room for an MLP beside the attention and embeddings "
                                   "of this shape ({} parameters); give a larger params or ffn_dim explicitly",
                                   num(model.params), num(shared)));
    model.ffn_dim = static_cast<int>(std::min(std::llround(ffn), 100'000'000LL));
  }
  model.ffn_dim = static_cast<int>(m.integer_in("ffn_dim", model.ffn_dim, 1, 100'000'000));
  return model;
}

}  // namespace tf::loader
