document.getElementById("out").textContent = "ran from " + location.origin;
