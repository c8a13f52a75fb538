// The crontab field's help line names the chosen schedule in words (django-celery-beat's
// inline script, moved to a file for the CSP; templates/admin/djcelery/).
"use strict";
(function () {
  const $ = window.django && window.django.jQuery;
  const data = document.getElementById("readable-crontabs");
  if (!$ || !data) {
    return;
  }
  const readable = JSON.parse(data.textContent);
  const help = $(".field-crontab .help");
  const original = help.text();
  $(".field-crontab_translation").hide();
  $(".field-crontab").on("change", function () {
    const words = readable[$("#id_crontab").val()] || "";
    help.text(original).append($("<br>"), document.createTextNode("Translation: " + words));
  });
})();
