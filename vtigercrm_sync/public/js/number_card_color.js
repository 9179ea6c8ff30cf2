// A Custom Number Card's method may name the color of its number ({"value": …, "color": "#e24c4c"}): the VTiger
// workspace's cues turn yellow or red past the thresholds an administrator sets. Frappe 15 paints a card in the
// one color stored on it; this paints the number in the method's color, when it gives one, after Frappe drew it.
frappe.provide("frappe.widget.widget_factory");
(() => {
	const NumberCard = frappe.widget.widget_factory.number_card;
	if (!NumberCard) return;
	frappe.widget.widget_factory.number_card = class extends NumberCard {
		render_number() {
			super.render_number();
			const color = this.card_doc?.type === "Custom" && this.data?.color;
			if (typeof color === "string" && /^#[0-9a-f]{3,8}$/i.test(color)) {
				$(this.body).find(".number").css("color", color);
			}
		}
	};
})();
